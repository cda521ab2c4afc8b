package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Write writes c to path as bdr.yaml, with the same keys Load reads, in
// declaration order, durations as "1s" and sizes as "1GiB", so that Load
// returns a Config equal to c (given no BDR_… overrides and c's regions'
// object_store.region set, as Load sets it). Keys outside regions are all
// written, even empty ones, because an omitted key would come back as its
// default; inside regions, where nothing but object_store.region has a
// default, empty keys are left out for readability. The file is replaced atomically (temp file + rename). c holds no
// secrets, only their references, so nothing secret is written.
func Write(path string, c *Config) error {
	doc, err := yamlNode(reflect.ValueOf(*c), false)
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	doc.HeadComment = "bottomless-dr configuration (bdr.yaml). Secrets are referenced by\nenvironment variable or file name, never written here."
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("config: write %s: encode: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("config: write %s: encode: %w", path, err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; the config holds no secrets and other
	// users (the worker's service account) may need to read it.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	return nil
}

// yamlNode renders v with bdr.yaml's keys: structs in field order, maps with
// sorted keys, durations, delays ("never") and sizes in their text form. omitZero leaves out
// struct fields holding zero values.
func yamlNode(v reflect.Value, omitZero bool) (*yaml.Node, error) {
	switch v.Type() {
	case reflect.TypeFor[time.Duration]():
		return scalar(formatDuration(time.Duration(v.Int()))), nil
	case reflect.TypeFor[Delay]():
		return scalar(Delay(v.Int()).String()), nil // "never" or a duration
	case reflect.TypeFor[ByteSize]():
		return scalar(ByteSize(v.Int()).String()), nil
	}
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := range v.NumField() {
			if omitZero && v.Field(i).IsZero() {
				continue
			}
			val, err := yamlNode(v.Field(i), omitZero)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, scalar(fieldKey(v.Type().Field(i))), val)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			// Map values (regions) have no defaults to protect: omit zeros.
			val, err := yamlNode(v.MapIndex(k), true)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, scalar(k.String()), val)
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle // "[]" rather than an empty block
		}
		for i := range v.Len() {
			val, err := yamlNode(v.Index(i), omitZero)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, val)
		}
		return n, nil
	default:
		// Scalars: let yaml choose the tag and quoting ("" and "true" as
		// strings are quoted so they read back as strings).
		n := &yaml.Node{}
		if err := n.Encode(v.Interface()); err != nil {
			return nil, fmt.Errorf("encode %s: %w", v.Type(), err)
		}
		return n, nil
	}
}

func scalar(s string) *yaml.Node {
	n := &yaml.Node{}
	// Encode picks quoting that keeps s a string when read back.
	_ = n.Encode(s)
	return n
}

// formatDuration prints d as time.Duration does, minus trailing zero units:
// "24h" rather than "24h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
