package standin

import (
	"errors"
	"fmt"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

// resultSet is a small all-text result, as the SHOW statements of the stand-in return.
type resultSet struct {
	Columns []string
	Rows    [][]string
}

const utf8mb4General = 45 // utf8mb4_general_ci, understood by every client

func (r *resultSet) result() *sqltypes.Result {
	res := &sqltypes.Result{}
	for _, c := range r.Columns {
		res.Fields = append(res.Fields, &querypb.Field{Name: c, Type: sqltypes.VarChar, Charset: utf8mb4General, ColumnLength: 1024})
	}
	for _, row := range r.Rows {
		vals := make([]sqltypes.Value, len(row))
		for i, v := range row {
			vals[i] = sqltypes.NewVarChar(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	return res
}

// okResult is the answer to a statement that returns no rows.
func okResult(affected uint64) *sqltypes.Result { return &sqltypes.Result{RowsAffected: affected} }

// engineResult converts rows that go-mysql-server produced into a wire result.
func engineResult(ctx *sql.Context, sch sql.Schema, rows []sql.Row) (*sqltypes.Result, error) {
	res := &sqltypes.Result{}
	for _, c := range sch {
		res.Fields = append(res.Fields, &querypb.Field{Name: c.Name, Type: c.Type.Type(), Charset: utf8mb4General,
			ColumnLength: c.Type.MaxTextResponseByteLength(ctx)})
	}
	for _, r := range rows {
		vals := make([]sqltypes.Value, len(r))
		for i, v := range r {
			if v == nil {
				vals[i] = sqltypes.NULL
				continue
			}
			sv, err := sch[i].Type.SQL(ctx, nil, v)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", sch[i].Name, err)
			}
			vals[i] = sv
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, nil
}

// Errors the client sees. Anything that is not already a MySQL error becomes ER_UNKNOWN_ERROR
// with the message, which names what is wrong.

func sqlError(err error) error {
	var se *mysql.SQLError
	if errors.As(err, &se) {
		return err
	}
	return mysql.NewSQLError(mysql.ERUnknownError, mysql.SSUnknownSQLState, "%s", err.Error())
}

func accessDenied(what string) error {
	return mysql.NewSQLError(mysql.ERSpecifiedAccessDenied, mysql.SSClientError,
		"Access denied; you need (at least one of) the SUPER privilege(s) for this operation (%s)", what)
}

func unknownDatabase(name string) error {
	return mysql.NewSQLError(mysql.ERBadDb, mysql.SSClientError, "Unknown database '%s'", name)
}
