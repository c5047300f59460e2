package main

// The pace of the devices polling the token endpoint (RFC 8628 §3.5), kept
// in memory. A device that polls before its interval has passed hears
// slow_down from here, without a read of the store; one that keeps time
// costs one indexed read per poll (grant_device.go). The table also counts
// how each device's polls went, so that the activity log gets one line per
// device authorization instead of one per poll.
//
// Each instance keeps its own table: behind a load balancer that spreads
// one device's polls over several instances, each instance sees only its
// share, and paces that, so a device may poll up to N times as often as
// its interval before one of N instances says slow_down. That costs an
// indexed read per poll and gives nothing away: the device code is used
// once, in the store, however many instances it is presented to. The
// activity log may then get a line per instance for a device's outcome.
// Sharing the pace would cost a write per poll.

import (
	"container/list"
	"sync"
	"time"
)

// slowDownStep is how much a device's interval grows with each slow_down.
// RFC 8628 §3.5, slow_down: "the interval MUST be increased by 5 seconds
// for this and all subsequent requests".
const slowDownStep = 5 * time.Second

// devicePolls is the table, bounded: at most max devices (routes.go gives
// it IMAGEHOST_MAX_PENDING_DEVICE_CODES; full, 10,000 of them hold about
// 2 MiB, measured), the one polled least recently forgotten first. A
// forgotten device is learned again from the store at its next poll; it
// only loses its count of polls.
type devicePolls struct {
	max int

	mu   sync.Mutex
	keys map[string]*list.Element // of *devicePoll, by device code hash
	lru  *list.List               // most recently polled at the front
}

// devicePoll is one device's pace and how its polls went.
type devicePoll struct {
	key      string
	clientID string
	interval time.Duration
	last     time.Time // the last poll, or the device authorization's issue
	pollCounts
	// reported is set once the outcome that ends the polling (tokens,
	// access_denied, expired_token) was written to the activity log: a
	// device that keeps polling after it does not add lines.
	reported bool
	// replayed is set once a second redemption of the device code was
	// written to the activity log: whoever keeps presenting it does not
	// add lines either.
	replayed bool
}

// pollCounts says how a device's polls went so far.
type pollCounts struct {
	pending   int           // answered authorization_pending
	slowDowns int           // answered slow_down
	interval  time.Duration // the interval after them
}

func newDevicePolls(max int) *devicePolls {
	return &devicePolls{max: max, keys: map[string]*list.Element{}, lru: list.New()}
}

// start begins the pace of a device: its last poll (or its issue) was at
// now, and it must wait interval before the next.
func (p *devicePolls) start(hash []byte, clientID string, interval time.Duration, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := string(hash)
	if el, ok := p.keys[key]; ok {
		p.lru.Remove(el)
	}
	if len(p.keys) >= p.max {
		back := p.lru.Back()
		delete(p.keys, back.Value.(*devicePoll).key)
		p.lru.Remove(back)
	}
	p.keys[key] = p.lru.PushFront(&devicePoll{key: key, clientID: clientID, interval: interval, last: now,
		pollCounts: pollCounts{interval: interval}})
}

// poll records a poll by clientID at now. known is false when the table
// holds nothing for the device (issued at another instance, or forgotten):
// the caller then reads the store, and calls start. Otherwise tooSoon
// reports whether the poll came before the device's interval had passed;
// such a poll raises the interval by slowDownStep, which interval returns.
//
// RFC 8628 §3.5: "the client MUST wait at least the number of seconds
// specified by the "interval" parameter". Network delays can bring two
// polls sent an interval apart a little closer, so only a poll that comes
// before four fifths of the interval counts as too soon.
func (p *devicePolls) poll(hash []byte, clientID string, now time.Time) (tooSoon bool, interval time.Duration, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.keys[string(hash)]
	if !ok {
		return false, 0, false
	}
	d := el.Value.(*devicePoll)
	if d.clientID != clientID {
		return false, 0, false // the store tells the client it is not its code
	}
	p.lru.MoveToFront(el)
	tooSoon = now.Sub(d.last) < d.interval*4/5
	d.last = now
	if tooSoon {
		d.interval += slowDownStep
		d.slowDowns++
		d.pollCounts.interval = d.interval
	}
	return tooSoon, d.interval, true
}

// pendingPoll counts a poll answered authorization_pending.
func (p *devicePolls) pendingPoll(hash []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.keys[string(hash)]; ok {
		el.Value.(*devicePoll).pending++
	}
}

// finish marks the device's polling as ended, and returns its counts and
// whether this is the first time it ended, the time to write its line in
// the activity log.
func (p *devicePolls) finish(hash []byte) (counts pollCounts, first bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.keys[string(hash)]
	if !ok {
		return pollCounts{}, true
	}
	d := el.Value.(*devicePoll)
	first = !d.reported
	d.reported = true
	return d.pollCounts, first
}

// replay marks the device code as presented again after its redemption,
// and reports whether this is the first time.
func (p *devicePolls) replay(hash []byte) (first bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.keys[string(hash)]
	if !ok {
		return true
	}
	d := el.Value.(*devicePoll)
	first = !d.replayed
	d.replayed = true
	return first
}

// len is the number of devices the table holds.
func (p *devicePolls) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys)
}
