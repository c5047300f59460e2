package photoedit

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"golang.org/x/sync/semaphore"
)

// Limits bound what edits may cost together. Editing is the app's most
// expensive work, so it runs under two caps, and nobody waits long for
// either: after Wait the answer is ErrBusy, "try again in a moment".
type Limits struct {
	// Slots is how many edits may be under way at once, from fetching the
	// photo to saving the result: it bounds the photo files held in memory.
	Slots int64
	// Memory is the bytes that decoding, editing and encoding may take
	// together (see Cost). An image that alone costs more is ErrTooLarge.
	Memory int64
	// Wait is the longest an edit waits for a slot and for memory, in all.
	Wait time.Duration
}

// Editor runs edits within Limits. It is safe for concurrent use.
type Editor struct {
	limits Limits
	slots  *semaphore.Weighted
	memory *semaphore.Weighted
}

// NewEditor returns an editor with the given limits.
func NewEditor(l Limits) *Editor {
	return &Editor{limits: l, slots: semaphore.NewWeighted(l.Slots), memory: semaphore.NewWeighted(l.Memory)}
}

// Edit is one edit under way, holding a slot until Done.
type Edit struct {
	e        *Editor
	deadline time.Time
}

// Begin takes a slot for one edit. It returns ErrBusy when none is free
// within the editor's wait. The caller must call Done.
func (e *Editor) Begin(ctx context.Context) (*Edit, error) {
	deadline := time.Now().Add(e.limits.Wait)
	if err := acquire(ctx, e.slots, 1, deadline); err != nil {
		return nil, err
	}
	return &Edit{e: e, deadline: deadline}, nil
}

// Done gives the slot back.
func (ed *Edit) Done() { ed.e.slots.Release(1) }

// Apply decodes data, applies op, and encodes the result in the same
// format (GIF and JPEG stay what they were; everything else becomes PNG).
// It returns the new bytes and their content type.
//
// Before decoding, it reads the image's header, refuses what is over the
// limits (ErrTooLarge) or not an image (ErrNotImage), and waits for the
// memory the edit will take, until the deadline Begin set (ErrBusy).
func (ed *Edit) Apply(ctx context.Context, data []byte, op string) ([]byte, string, error) {
	if !KnownOperation(op) {
		return nil, "", ErrUnknownOperation
	}
	cost, err := Cost(data)
	if err != nil {
		return nil, "", err
	}
	if cost > ed.e.limits.Memory {
		return nil, "", fmt.Errorf("%w: it would take %d MB to edit", ErrTooLarge, cost>>20)
	}
	if err := acquire(ctx, ed.e.memory, cost, ed.deadline); err != nil {
		return nil, "", err
	}
	defer ed.e.memory.Release(cost)
	out, contentType, err := apply(data, op)
	// Go's collector runs once the heap has grown, so a large edit's
	// garbage would still be there while the next edit allocates its own,
	// and the process would hold two edits' worth. Collecting it, and
	// giving it back to the system, before the memory is handed on keeps
	// the process at one large edit's worth.
	if cost > ed.e.limits.Memory/4 {
		debug.FreeOSMemory()
	}
	return out, contentType, err
}

// acquire waits for n of sem until deadline, then gives up with ErrBusy.
// The semaphore serves waiters in order, so a large edit is not starved by
// a stream of small ones.
func acquire(ctx context.Context, sem *semaphore.Weighted, n int64, deadline time.Time) error {
	wait, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := sem.Acquire(wait, n)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the request itself is gone
	case errors.Is(err, context.DeadlineExceeded):
		return ErrBusy
	}
	return err
}
