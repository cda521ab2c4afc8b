package standin

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/sqltypes"
)

// information_schema.MV_MILESTONES is SingleStore's; go-mysql-server's information_schema is
// fixed. A query naming it is run by a throw-away engine over a table filled with the
// milestones of the attached databases the user may see, so any SELECT shape works.

var mvMilestonesRef = regexp.MustCompile("(?i)`?information_schema`?\\s*\\.\\s*`?mv_milestones`?")

const viewsDB = "standin_views"

var milestonesSchema = sql.Schema{
	{Name: "MILESTONE_NAME", Type: types.LongText, Source: "MV_MILESTONES"},
	{Name: "MILESTONE_TIME", Type: types.DatetimeMaxPrecision, Source: "MV_MILESTONES"},
	{Name: "DATABASE_NAME", Type: types.LongText, Source: "MV_MILESTONES"},
	{Name: "DATABASE_LOCATION", Type: types.LongText, Source: "MV_MILESTONES"},
}

func (s *Server) milestonesView(ctx context.Context, query string, me account) (*sqltypes.Result, error) {
	db := memory.NewDatabase(viewsDB)
	pro := memory.NewDBProvider(db)
	sctx := sql.NewContext(ctx, sql.WithSession(memory.NewSession(sql.NewBaseSession(), pro)))
	sctx.SetCurrentDatabase(viewsDB)
	tbl := memory.NewTable(db, "mv_milestones", sql.NewPrimaryKeySchema(milestonesSchema), db.GetForeignKeyCollection())
	db.AddTable("mv_milestones", tbl)
	names := make([]string, 0, len(s.dbs))
	for k := range s.dbs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b := s.dbs[k]
		if !s.hasAnyGrantOn(me, b.name) {
			continue
		}
		for _, m := range b.milestones {
			if err := tbl.Insert(sctx, sql.NewRow(m.Name, m.Time.UTC(), b.name, b.target.Location)); err != nil {
				return nil, fmt.Errorf("mv_milestones: %w", err)
			}
		}
	}
	rewritten := mvMilestonesRef.ReplaceAllString(query, viewsDB+".mv_milestones")
	if strings.Contains(strings.ToLower(rewritten), "information_schema") {
		return nil, fmt.Errorf("MV_MILESTONES can only be queried alone, not joined with other information_schema tables")
	}
	e := sqle.NewDefault(pro)
	sch, iter, _, err := e.Query(sctx, rewritten)
	if err != nil {
		return nil, fmt.Errorf("mv_milestones: %w", err)
	}
	rows, err := sql.RowIterToRows(sctx, iter)
	if err != nil {
		return nil, fmt.Errorf("mv_milestones: %w", err)
	}
	return engineResult(sctx, sch, rows)
}
