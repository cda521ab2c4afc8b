package standin

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/dolthub/go-mysql-server/sql"
)

// Rows travel as JSON arrays of cells: null, the value's SQL text, or {"b64": …} when the text
// is not UTF-8. The SQL text is what go-mysql-server itself sends to clients and parses back,
// so every column type round-trips through its own Convert.

type b64Cell struct {
	B64 string `json:"b64"`
}

func encodeRow(ctx *sql.Context, sch sql.Schema, row sql.Row) (string, error) {
	if len(row) != len(sch) {
		return "", fmt.Errorf("row has %d values for %d columns (virtual columns are not supported)", len(row), len(sch))
	}
	cells := make([]any, len(row))
	for i, v := range row {
		if v == nil {
			continue
		}
		sv, err := sch[i].Type.SQL(ctx, nil, v)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", sch[i].Name, err)
		}
		if sv.IsNull() {
			continue
		}
		b := sv.Raw()
		if utf8.Valid(b) {
			cells[i] = string(b)
		} else {
			cells[i] = b64Cell{B64: base64.StdEncoding.EncodeToString(b)}
		}
	}
	out, err := json.Marshal(cells)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func decodeRow(ctx *sql.Context, sch sql.Schema, enc []byte) (sql.Row, error) {
	var cells []json.RawMessage
	if err := json.Unmarshal(enc, &cells); err != nil {
		return nil, fmt.Errorf("row %s: %w", enc, err)
	}
	if len(cells) != len(sch) {
		return nil, fmt.Errorf("row has %d values for %d columns", len(cells), len(sch))
	}
	row := make(sql.Row, len(cells))
	for i, c := range cells {
		var raw any
		switch {
		case string(c) == "null":
			continue
		case len(c) > 0 && c[0] == '{':
			var b b64Cell
			if err := json.Unmarshal(c, &b); err != nil {
				return nil, fmt.Errorf("column %s: %w", sch[i].Name, err)
			}
			data, err := base64.StdEncoding.DecodeString(b.B64)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", sch[i].Name, err)
			}
			raw = data
		default:
			var s string
			if err := json.Unmarshal(c, &s); err != nil {
				return nil, fmt.Errorf("column %s: %w", sch[i].Name, err)
			}
			raw = s
		}
		v, _, err := sch[i].Type.Convert(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", sch[i].Name, err)
		}
		row[i] = v
	}
	return row, nil
}
