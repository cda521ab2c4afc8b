package database

import "fmt"

// CheckReadOnly (temporary until the hardening branch lands).
func CheckReadOnly(field string, queries []string) error {
	for i, q := range queries {
		if err := checkReadOnly("", fmt.Sprintf("%s[%d]", field, i), q); err != nil {
			return err
		}
	}
	return nil
}
