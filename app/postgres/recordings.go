package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/app/flow"
)

// Recordings is a flow.Storage in PostgreSQL: every instance on the
// database records into, and shows, the same flows, so a browser's
// requests may land on any of them.
//
// Each write is one batch: one round trip, one implicit transaction, in
// which the bounds are kept too. What makes them exact under concurrent
// writes:
//   - The flow's row is locked first (the upsert that numbers the exchange,
//     or SELECT ... FOR UPDATE), so writes to one flow take turns, and each
//     trims what the one before it left.
//   - A write that creates a flow takes an advisory lock before it counts
//     the flows and pushes out the least recently used, so two new flows
//     cannot both find the last free place. Writes to existing flows, the
//     many, never take it.
type Recordings struct{ db *DB }

var _ flow.Storage = (*Recordings)(nil)

// trimFlow drops exchanges of flow $1 until it is within $2 exchanges and
// $3 bytes (keeping the newest one whatever its size), in flow.Storage's
// order: those dropped first (API calls), oldest first, then the others,
// oldest first. An exchange is dropped when the flow, without the ones
// before it in that order, is still over a bound; that is a prefix of the
// order, since the flow only shrinks along it.
const trimFlow = `WITH ordered AS (
		SELECT seq,
			count(*) OVER (ORDER BY NOT drop_first, seq) AS n,      -- it and the ones before it
			sum(size) OVER (ORDER BY NOT drop_first, seq) - size AS before_bytes,
			count(*) OVER () AS total,
			sum(size) OVER () AS total_bytes
		FROM photoeditor.flow_exchanges WHERE flow_id = $1
	)
	DELETE FROM photoeditor.flow_exchanges e USING ordered o
	WHERE e.flow_id = $1 AND e.seq = o.seq
		AND (o.total - (o.n - 1) > $2 OR (o.total_bytes - o.before_bytes > $3 AND o.total - (o.n - 1) > 1))`

// Append implements flow.Storage.
func (r *Recordings) Append(ctx context.Context, id string, ex flow.Exchange, now time.Time) (int, error) {
	ex.Seq = 0 // the row's seq column says
	data, err := json.Marshal(ex)
	if err != nil {
		return 0, fmt.Errorf("flow: append: %w", err)
	}
	b := &pgx.Batch{}
	// Number the exchange, creating the flow if need be; the flow's row
	// stays locked until the batch ends.
	b.Queue(`INSERT INTO photoeditor.flows (id, seq, used_at) VALUES ($1, 1, $2)
		ON CONFLICT (id) DO UPDATE SET seq = flows.seq + 1, used_at = greatest(flows.used_at, excluded.used_at)
		RETURNING seq`, id, ms(now))
	// A new flow (numbered 1) waits for the other new flows, then pushes
	// out the least recently used beyond MaxFlows.
	b.Queue(`SELECT pg_advisory_xact_lock($2, 0) FROM photoeditor.flows WHERE id = $1 AND seq = 1`, id, lockNewFlow)
	b.Queue(`DELETE FROM photoeditor.flows WHERE id IN (
			SELECT id FROM photoeditor.flows WHERE id <> $1 ORDER BY used_at, id
			LIMIT (SELECT CASE WHEN f.seq = 1 THEN greatest(0, (SELECT count(*) FROM photoeditor.flows) - $2) ELSE 0 END
				FROM photoeditor.flows f WHERE f.id = $1))`, id, flow.MaxFlows)
	b.Queue(`INSERT INTO photoeditor.flow_exchanges (flow_id, seq, drop_first, size, exchange)
		SELECT id, seq, $2, $3, $4 FROM photoeditor.flows WHERE id = $1`, id, flow.DroppedFirst(ex.Step), ex.Size(), data)
	b.Queue(trimFlow, id, flow.MaxExchanges, flow.MaxFlowBytes)
	br := r.db.pool.SendBatch(ctx, b)
	defer br.Close()
	var seq int
	if err := br.QueryRow().Scan(&seq); err != nil {
		return 0, fmt.Errorf("flow: append: %w", err)
	}
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("flow: append: %w", err)
	}
	return seq, nil
}

// Replace implements flow.Storage.
func (r *Recordings) Replace(ctx context.Context, id string, ex flow.Exchange) error {
	seq := ex.Seq
	ex.Seq = 0
	data, err := json.Marshal(ex)
	if err != nil {
		return fmt.Errorf("flow: replace: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM photoeditor.flows WHERE id = $1 FOR UPDATE`, id) // the flow's turn
	b.Queue(`UPDATE photoeditor.flow_exchanges SET drop_first = $3, size = $4, exchange = $5 WHERE flow_id = $1 AND seq = $2`,
		id, seq, flow.DroppedFirst(ex.Step), ex.Size(), data)
	b.Queue(trimFlow, id, flow.MaxExchanges, flow.MaxFlowBytes)
	if err := r.db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("flow: replace: %w", err)
	}
	return nil
}

// Exchanges implements flow.Storage.
func (r *Recordings) Exchanges(ctx context.Context, id string) ([]flow.Exchange, error) {
	rows, err := r.db.pool.Query(ctx, `SELECT seq, exchange FROM photoeditor.flow_exchanges WHERE flow_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("flow: exchanges: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (flow.Exchange, error) {
		var ex flow.Exchange
		var seq int
		var data []byte
		if err := row.Scan(&seq, &data); err != nil {
			return ex, err
		}
		if err := json.Unmarshal(data, &ex); err != nil {
			return ex, err
		}
		ex.Seq = seq
		return ex, nil
	})
	if err != nil {
		return nil, fmt.Errorf("flow: exchanges: %w", err)
	}
	return list, nil
}

// Reset implements flow.Storage.
func (r *Recordings) Reset(ctx context.Context, id string) error {
	if _, err := r.db.pool.Exec(ctx, "DELETE FROM photoeditor.flows WHERE id = $1", id); err != nil {
		return fmt.Errorf("flow: reset: %w", err)
	}
	return nil
}

// Len implements flow.Storage.
func (r *Recordings) Len(ctx context.Context) (int, error) {
	var n int
	if err := r.db.pool.QueryRow(ctx, "SELECT count(*) FROM photoeditor.flows").Scan(&n); err != nil {
		return 0, fmt.Errorf("flow: len: %w", err)
	}
	return n, nil
}
