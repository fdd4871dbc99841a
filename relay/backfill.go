package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file imports the account's earlier texts from Twilio's message log
// into Intercom ([Relay.Backfill]): for a team switching over from texting
// in Twilio's console.
//
// Threading. A customer's history goes, oldest first, where a live text
// of theirs would go: onto their thread's conversation when the relay has
// one it would still post to (open, or closed with Config.Reopen);
// otherwise their oldest imported text starts a new conversation, which
// becomes the thread's, so that their next live text threads with its
// history and an agent answering it sees what was said before. Texts of
// ours before the customer's first text of the range (nothing to put them
// on yet) become notes on the contact, as texts sent first do.
//
// The work is done by jobs of kind relay.backfill under the customer's
// orderKey: a customer's history is imported one batch at a time,
// between their live texts and never beside them, by the relay's workers
// (Relay.Run, in this process or another replica). Backfill feeds at most
// Concurrency batches to the queue at once, so that live jobs of other
// customers never queue behind a long backfill, and a backfill's Intercom
// calls take at most BackfillShare of the budget and yield to live calls
// (backfill_budget.go).

// HistoryLister reads Twilio's message log; *twiliosms.Client is one.
// Without it, [Relay.Backfill] cannot run.
type HistoryLister interface {
	HistoryPage(ctx context.Context, q twiliosms.HistoryQuery, cursor string) (twiliosms.HistoryPage, error)
}

// MediaLister lists the media of a message of Twilio's log;
// *twiliosms.Client is one. Without it, [Relay.Backfill] imports a text's
// attachments as a mention of how many there were.
type MediaLister interface {
	MessageMedia(ctx context.Context, messageSID string) ([]twiliosms.Media, error)
}

// ErrBackfillStalled is returned (wrapped) by [Relay.Backfill] when its
// batches made no progress for BackfillOptions.StallTimeout: no worker
// runs them (is Relay.Run running, with this release?) or Intercom keeps
// failing. The batches stay queued; a later run picks up where it ended.
var ErrBackfillStalled = errors.New("relay: backfill stalled")

// Reasons a message of the log is not imported, the keys of
// BackfillReport.Skipped.
const (
	SkipNotOurNumber  = "not_our_number"    // sent from or to a number not in Numbers
	SkipOtherCustomer = "other_customer"    // a customer not in Customers
	SkipAgentPhone    = "agent_phone"       // to or from an agent's phone (Config.Paging)
	SkipNotAPhone     = "not_a_phone"       // the other party is a short code or an alphanumeric sender: system messages
	SkipNeverSent     = "never_sent"        // ours, scheduled or canceled
	SkipUnknownDir    = "unknown_direction" // a direction Twilio does not document
)

// Defaults of BackfillOptions.
const (
	DefaultBackfillConcurrency  = 2
	DefaultBackfillStallTimeout = 10 * time.Minute
	// backfillBatch is how many texts one job imports: a live text of the
	// same customer waits at most for the batches queued before it.
	backfillBatch = 10
	// backfillPoll is how often Backfill looks at its batches' progress.
	backfillPoll = 50 * time.Millisecond
	// backfillPageSize is the page size of the log's listing.
	backfillPageSize = 500
)

// BackfillOptions says what [Relay.Backfill] imports.
type BackfillOptions struct {
	// Numbers are our numbers (or "whatsapp:" addresses) whose texts are
	// imported, as Twilio's log shows them; empty means every number of
	// the account.
	Numbers []string
	// Customers, if set, limits the import to these customers' texts.
	Customers []string
	// Since and Until bound when the texts were sent: Since <= t < Until.
	// Since is required; a zero Until means now.
	Since, Until time.Time
	// DryRun lists what would be imported, per customer, and writes
	// nothing, to Intercom or to the store.
	DryRun bool
	// Concurrency is how many batches (of up to 10 texts of one customer)
	// are queued at once. Default DefaultBackfillConcurrency; keep it
	// below Config.Workers so that live jobs always find a worker.
	Concurrency int
	// StallTimeout ends Backfill with ErrBackfillStalled when no text was
	// settled for that long. Default DefaultBackfillStallTimeout.
	StallTimeout time.Duration
	// Progress, if set, is called from Backfill's goroutine once the log
	// is read and whenever texts were settled since the last call.
	Progress func(BackfillProgress)
}

// BackfillProgress is how far a backfill has come.
type BackfillProgress struct {
	// Total is how many texts this run imports: those found in the range
	// less those skipped or already in Intercom.
	Total int
	// Done and Failed count the texts settled so far.
	Done, Failed int
	// Elapsed is the time since the log was read.
	Elapsed time.Duration
}

// BackfillCustomer is what a backfill imports for one thread.
type BackfillCustomer struct {
	Customer string // the customer's address
	Number   string // our number, or the Messaging Service SID of a pool
	// Messages is how many of their texts are imported: Inbound from
	// them, Outbound from us.
	Messages, Inbound, Outbound int
	// First and Last are when the first and last of them were sent.
	First, Last time.Time
	// Sample is the first of them, who wrote it and what, on one line cut
	// to 60 characters: "customer: Hi, is order #4104 on its way?".
	Sample string
}

// BackfillFailure is a text Intercom refused for good.
type BackfillFailure struct {
	SID      string
	Customer string
	Reason   string
}

// BackfillReport says what a backfill found and did.
type BackfillReport struct {
	DryRun bool
	// Found counts the texts of the range the log holds for the query.
	Found int
	// Skipped counts those left out, by reason (the Skip constants).
	Skipped map[string]int
	// AlreadyImported were imported by an earlier backfill; CarriedLive
	// the relay itself carried when they arrived or were sent.
	AlreadyImported, CarriedLive int
	// ToImport is what this run set out to import, per customer in
	// Customers.
	ToImport  int
	Customers []BackfillCustomer
	// Imported and Failed are what became of them (zero in a dry run).
	Imported int
	Failed   []BackfillFailure
	Took     time.Duration
}

// backfillJob is one batch of one thread's texts, oldest first.
type backfillJob struct {
	Run      string            `json:"run"`
	Customer string            `json:"customer"`
	Sender   string            `json:"sender"` // the thread's sender: our number or the pool's service
	Messages []backfillMessage `json:"messages"`
}

// backfillMessage is a text of the log, as a batch carries it.
type backfillMessage struct {
	SID       string    `json:"sid"`
	Inbound   bool      `json:"inbound"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Body      string    `json:"body"`
	At        time.Time `json:"at"`
	Status    string    `json:"status,omitempty"`
	ErrorCode int       `json:"error_code,omitempty"`
	NumMedia  int       `json:"num_media,omitempty"`
	Media     []media   `json:"media,omitempty"` // empty when they could not be listed
	Service   string    `json:"service,omitempty"`
}

// customerAddress is what a customer's address looks like: an E.164
// number, perhaps on WhatsApp. Short codes and alphanumeric senders send
// system messages (codes, alerts), not conversations.
var customerAddress = regexp.MustCompile(`^(whatsapp:)?\+[1-9][0-9]{6,14}$`)

func (o BackfillOptions) validate() error {
	var p []string
	if o.Since.IsZero() {
		p = append(p, "Since is required")
	}
	if !o.Until.IsZero() && !o.Since.Before(o.Until) {
		p = append(p, "Since must be before Until")
	}
	for _, list := range []struct {
		name string
		v    []string
	}{{"Numbers", o.Numbers}, {"Customers", o.Customers}} {
		for i, a := range list.v {
			if strings.TrimSpace(a) == "" || strings.ContainsAny(a, "|\r\n") {
				p = append(p, fmt.Sprintf("%s[%d] %q is not an address", list.name, i, twiliosms.MaskAddress(a)))
			}
		}
	}
	if o.Concurrency < 0 {
		p = append(p, "Concurrency must not be negative")
	}
	if o.StallTimeout < 0 {
		p = append(p, "StallTimeout must not be negative")
	}
	if len(p) > 0 {
		return fmt.Errorf("relay: Backfill: %s", strings.Join(p, "; "))
	}
	return nil
}

// Backfill imports the texts of Twilio's message log sent between
// o.Since and o.Until into Intercom: each customer's texts as replies from
// their contact (the contact the relay uses for their phone: the store,
// then Intercom's search, then a new lead), ours as internal notes, each
// with its original time in its text, oldest first (see the threading
// rule in the package documentation).
//
// It is idempotent by MessageSid: a text imported once, or carried by the
// relay when it arrived or was sent, is never imported again, so a second
// run adds nothing and a run cut short (ctx cancelled, the process
// killed) is resumed by running it again. The import itself is done by the
// relay's workers, which must be running ([Relay.Run]) in this process or
// in another replica sharing the store; Backfill reads the log, queues the
// batches a few at a time, and waits for them. Live texts go first: see
// [BackfillShare].
//
// Backfill returns what it found and did, also with an error: ctx's when
// it was cancelled, ErrBackfillStalled when its batches stopped moving. A
// dry run (o.DryRun) reads the log and the store and writes nothing.
func (r *Relay) Backfill(ctx context.Context, o BackfillOptions) (rep BackfillReport, err error) {
	rep = BackfillReport{DryRun: o.DryRun, Skipped: map[string]int{}}
	if ctx == nil {
		return rep, errors.New("relay: Backfill: nil context")
	}
	if err := o.validate(); err != nil {
		return rep, err
	}
	if r.tw.hist == nil {
		return rep, fmt.Errorf("relay: Backfill: the Twilio client cannot read the message log (it is not a relay.HistoryLister): %w", errors.ErrUnsupported)
	}
	started := time.Now()
	defer func() { rep.Took = time.Since(started) }()
	if o.Until.IsZero() {
		o.Until = started
	}
	o.Concurrency = or(o.Concurrency, DefaultBackfillConcurrency)
	o.StallTimeout = or(o.StallTimeout, DefaultBackfillStallTimeout)
	if !o.DryRun && o.Concurrency >= r.cfg.Workers {
		r.log.Warn("relay: Backfill: Concurrency is not below Config.Workers; live texts may wait for a worker while batches run",
			"concurrency", o.Concurrency, "workers", r.cfg.Workers)
	}

	log, err := r.backfillList(ctx, o)
	if err != nil {
		return rep, err
	}
	rep.Found = len(log)
	threads, err := r.backfillSort(ctx, o, log, &rep)
	if err != nil {
		return rep, err
	}
	if o.Progress != nil {
		o.Progress(BackfillProgress{Total: rep.ToImport})
	}
	if o.DryRun || rep.ToImport == 0 {
		return rep, nil
	}
	return rep, r.backfillRun(ctx, o, threads, &rep)
}

// backfillList reads the texts of the range from the log, once each.
func (r *Relay) backfillList(ctx context.Context, o BackfillOptions) ([]twiliosms.HistoryMessage, error) {
	var qs []twiliosms.HistoryQuery
	switch {
	case len(o.Customers) > 0:
		for _, c := range o.Customers {
			qs = append(qs, twiliosms.HistoryQuery{To: c}, twiliosms.HistoryQuery{From: c})
		}
	case len(o.Numbers) > 0:
		for _, n := range o.Numbers {
			qs = append(qs, twiliosms.HistoryQuery{To: n}, twiliosms.HistoryQuery{From: n})
		}
	default:
		qs = append(qs, twiliosms.HistoryQuery{})
	}
	seen := map[string]bool{}
	var out []twiliosms.HistoryMessage
	for _, q := range qs {
		q.Since, q.Until, q.PageSize = o.Since, o.Until, backfillPageSize
		for cursor := ""; ; {
			p, err := r.tw.HistoryPage(ctx, q, cursor)
			if err != nil {
				return nil, fmt.Errorf("relay: Backfill: reading Twilio's message log: %w", err)
			}
			for _, m := range p.Messages {
				if m.SID != "" && !seen[m.SID] {
					seen[m.SID] = true
					out = append(out, m)
				}
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
	}
	return out, nil
}

// backfillThread is one thread's texts to import, oldest first.
type backfillThread struct {
	key  store.ThreadKey
	msgs []backfillMessage
}

// backfillSort sorts the log into threads of texts to import, and counts
// the rest in rep.
func (r *Relay) backfillSort(ctx context.Context, o BackfillOptions, log []twiliosms.HistoryMessage, rep *BackfillReport) ([]backfillThread, error) {
	in := func(list []string, addr string) bool {
		return slices.Contains(list, addr) || slices.Contains(list, bareNumber(addr))
	}
	byKey := map[store.ThreadKey][]backfillMessage{}
	for _, m := range log {
		customer, ours := m.From, m.To
		switch m.Direction {
		case twiliosms.DirectionInbound:
		case twiliosms.DirectionOutboundAPI, twiliosms.DirectionOutboundCall, twiliosms.DirectionOutboundReply:
			customer, ours = m.To, m.From
		default:
			rep.Skipped[SkipUnknownDir]++
			continue
		}
		reason := ""
		switch {
		case len(o.Numbers) > 0 && !in(o.Numbers, ours):
			reason = SkipNotOurNumber
		case len(o.Customers) > 0 && !in(o.Customers, customer):
			reason = SkipOtherCustomer
		case !customerAddress.MatchString(customer):
			reason = SkipNotAPhone
		case r.isAgentPhone(bareNumber(customer)):
			reason = SkipAgentPhone
		case !m.Inbound() && (m.Status == "scheduled" || m.Status == "canceled"):
			reason = SkipNeverSent
		}
		if reason != "" {
			rep.Skipped[reason]++
			continue
		}
		if done, err := r.st.Marked(ctx, string(markBackfilled(m.SID))); err != nil {
			return nil, fmt.Errorf("relay: Backfill: reading import record: %w", err)
		} else if done {
			rep.AlreadyImported++
			continue
		}
		if _, err := r.st.Message(ctx, m.SID); err == nil {
			// Carried live, unless an earlier backfill placed it and was
			// cut off before it marked it imported: that one is finished
			// (backfillOne), or the thread might never point at the
			// conversation it started.
			placing, err := r.st.Marked(ctx, string(markBackfillPlacing(m.SID)))
			if err != nil {
				return nil, fmt.Errorf("relay: Backfill: reading import record: %w", err)
			}
			if !placing {
				rep.CarriedLive++
				continue
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("relay: Backfill: reading message record: %w", err)
		}
		bm := backfillMessage{
			SID: m.SID, Inbound: m.Inbound(), From: m.From, To: m.To, Body: m.Body, At: m.At().UTC(),
			Status: m.Status, ErrorCode: m.ErrorCode, NumMedia: m.NumMedia, Service: m.MessagingServiceSID,
		}
		key := r.threadKey(inboundJob{From: customer, To: ours, MessagingServiceSID: m.MessagingServiceSID})
		byKey[key] = append(byKey[key], bm)
	}
	threads := make([]backfillThread, 0, len(byKey))
	for key, msgs := range byKey {
		slices.SortFunc(msgs, func(a, b backfillMessage) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return strings.Compare(a.SID, b.SID)
		})
		threads = append(threads, backfillThread{key: key, msgs: msgs})
	}
	slices.SortFunc(threads, func(a, b backfillThread) int { return strings.Compare(a.key.String(), b.key.String()) })
	for _, t := range threads {
		c := BackfillCustomer{Customer: t.key.Customer, Number: t.key.Sender, Messages: len(t.msgs),
			First: t.msgs[0].At, Last: t.msgs[len(t.msgs)-1].At, Sample: sampleLine(t.msgs[0])}
		for _, m := range t.msgs {
			if m.Inbound {
				c.Inbound++
			} else {
				c.Outbound++
			}
		}
		rep.Customers = append(rep.Customers, c)
		rep.ToImport += len(t.msgs)
	}
	return threads, nil
}

// sampleLine is who wrote m and what, on one line of at most 60
// characters.
func sampleLine(m backfillMessage) string {
	who := "customer"
	if !m.Inbound {
		who = "us (note)"
	}
	line := who + ": " + strings.Join(strings.Fields(m.Body), " ")
	if m.NumMedia > 0 {
		line += fmt.Sprintf(" [%d MMS]", m.NumMedia)
	}
	if r := []rune(line); len(r) > 60 {
		line = string(r[:57]) + "..."
	}
	return line
}

// pendingBatch is a queued batch Backfill waits for.
type pendingBatch struct {
	job  backfillJob
	next int // the first of its texts not yet settled
	id   string
}

// backfillRun queues the threads' batches, Concurrency at a time, and
// waits for each to be settled.
func (r *Relay) backfillRun(ctx context.Context, o BackfillOptions, threads []backfillThread, rep *BackfillReport) error {
	run, err := newRunID()
	if err != nil {
		return err
	}
	var batches []backfillJob
	for _, t := range threads {
		for msgs := range slices.Chunk(t.msgs, backfillBatch) {
			batches = append(batches, backfillJob{Run: run, Customer: t.key.Customer, Sender: t.key.Sender, Messages: msgs})
		}
	}
	began := time.Now()
	lastMove := began
	lastDeadCheck := began
	var pending []*pendingBatch
	next := 0
	progress := func() {
		if o.Progress != nil {
			o.Progress(BackfillProgress{Total: rep.ToImport, Done: rep.Imported, Failed: len(rep.Failed), Elapsed: time.Since(began)})
		}
	}
	tick := time.NewTicker(backfillPoll)
	defer tick.Stop()
	for next < len(batches) || len(pending) > 0 {
		for len(pending) < o.Concurrency && next < len(batches) {
			r.backfillMedia(ctx, batches[next].Messages)
			p, err := r.enqueueBackfill(ctx, batches[next])
			if err != nil {
				return err
			}
			pending = append(pending, p)
			next++
		}
		moved := false
		for _, p := range pending {
			n, err := r.settle(ctx, p, rep)
			if err != nil {
				return err
			}
			moved = moved || n > 0
		}
		pending = slices.DeleteFunc(pending, func(p *pendingBatch) bool { return p.next == len(p.job.Messages) })
		if moved {
			lastMove = time.Now()
			progress()
			continue
		}
		if len(pending) > 0 && time.Since(lastDeadCheck) > 2*time.Second {
			lastDeadCheck = time.Now()
			if err := r.settleDeadBatches(ctx, run, pending); err != nil {
				return err
			}
		}
		if time.Since(lastMove) > o.StallTimeout {
			return fmt.Errorf("%w: no text settled in %v; %d batches stay queued (is Relay.Run running?)", ErrBackfillStalled, o.StallTimeout, len(batches)-next+len(pending))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("relay: backfill interrupted (run it again to go on): %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
	return nil
}

// backfillMedia lists the media of the texts that have some, so that
// they are attached in Intercom as a live text's are. A text whose media
// cannot be listed says how many it had.
func (r *Relay) backfillMedia(ctx context.Context, msgs []backfillMessage) {
	if r.tw.media == nil {
		return
	}
	for i, m := range msgs {
		if m.NumMedia == 0 || len(m.Media) > 0 {
			continue
		}
		list, err := r.tw.media.MessageMedia(ctx, m.SID)
		if err != nil {
			r.log.Warn("relay: backfill: listing a text's media", "message", m.SID, "err", err)
			continue
		}
		for _, md := range list {
			msgs[i].Media = append(msgs[i].Media, media{URL: md.URL, ContentType: md.ContentType})
		}
	}
}

// enqueueBackfill queues one batch.
func (r *Relay) enqueueBackfill(ctx context.Context, b backfillJob) (*pendingBatch, error) {
	payload, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("relay: encoding backfill job: %w", err)
	}
	job, err := r.q.Enqueue(ctx, store.NewJob{Kind: kindBackfill, Key: orderKey(b.Customer), Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("relay: queueing backfill batch: %w", err)
	}
	return &pendingBatch{job: b, id: job.ID}, nil
}

// settle moves p past its texts that are settled, counting them in rep,
// and returns how many it moved past.
func (r *Relay) settle(ctx context.Context, p *pendingBatch, rep *BackfillReport) (int, error) {
	n := 0
	for p.next < len(p.job.Messages) {
		m := p.job.Messages[p.next]
		done, err := r.st.Marked(ctx, string(markBackfilled(m.SID)))
		if err != nil {
			return n, fmt.Errorf("relay: reading import record: %w", err)
		}
		if !done {
			failed, err := r.st.Marked(ctx, string(markBackfillFailed(p.job.Run, m.SID)))
			if err != nil {
				return n, fmt.Errorf("relay: reading import record: %w", err)
			}
			if !failed {
				return n, nil
			}
			rep.Failed = append(rep.Failed, BackfillFailure{SID: m.SID, Customer: p.job.Customer, Reason: "Intercom refused it, or its batch was dead-lettered (see the log and Relay.DeadLetters)"})
		} else {
			rep.Imported++
		}
		p.next++
		n++
	}
	return n, nil
}

// settleDeadBatches marks the unsettled texts of this run's dead-lettered
// batches failed.
func (r *Relay) settleDeadBatches(ctx context.Context, run string, pending []*pendingBatch) error {
	dead, err := r.q.DeadLetters(ctx, 1000)
	if err != nil {
		return fmt.Errorf("relay: listing dead letters: %w", err)
	}
	for _, j := range dead {
		if j.Kind != kindBackfill {
			continue
		}
		for _, p := range pending {
			if p.id != j.ID {
				continue
			}
			for _, m := range p.job.Messages[p.next:] {
				if err := r.st.Mark(ctx, string(markBackfillFailed(run, m.SID))); err != nil {
					return fmt.Errorf("relay: recording failed import: %w", err)
				}
			}
		}
	}
	return nil
}

// backfillDeadLettered records the texts of dead-lettered batch job that
// are not imported as failed in its run, so that the Backfill waiting on
// them reports them at once, however many dead letters the queue holds
// (settleDeadBatches, which looks among the oldest thousand, remains for
// a batch whose worker died before this).
func (r *Relay) backfillDeadLettered(ctx context.Context, job store.Job) {
	var p backfillJob
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		r.log.Error("relay: a dead-lettered backfill batch does not decode", "job", job.ID, "err", err)
		return
	}
	for _, m := range p.Messages {
		done, err := r.st.Marked(ctx, string(markBackfilled(m.SID)))
		if err == nil && !done {
			err = r.st.Mark(ctx, string(markBackfillFailed(p.Run, m.SID)))
		}
		if err != nil {
			r.log.Error("relay: recording the texts of a dead-lettered backfill batch", "job", job.ID, "err", err)
			return
		}
	}
}

func newRunID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("relay: Backfill: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// handleBackfill imports one batch of one thread's texts, oldest first.
// A text Intercom refuses for good is recorded as failed and the batch
// goes on; any other error (a contact Intercom no longer has among them)
// retries the batch, which skips what is done.
func (r *Relay) handleBackfill(ctx context.Context, p backfillJob, _ store.Job) error {
	key := store.ThreadKey{Customer: p.Customer, Sender: p.Sender}
	if err := key.Validate(); err != nil {
		return permanent(fmt.Errorf("relay: backfill batch: %w", err))
	}
	ctx = withBackfillGate(ctx, r.bf)
	for _, m := range p.Messages {
		err := r.backfillOne(ctx, key, m)
		if err != nil && (!refused(err) || errors.Is(err, errContactForgotten)) {
			return err
		}
		mctx, cancel := detached(ctx)
		var merr error
		if err != nil {
			r.log.Warn("relay: backfill: Intercom refused a text", "message", m.SID, "customer", twiliosms.MaskAddress(p.Customer), "err", err)
			merr = r.st.Mark(mctx, string(markBackfillFailed(p.Run, m.SID)))
		} else {
			merr = r.st.Mark(mctx, string(markBackfilled(m.SID)))
		}
		cancel()
		if merr != nil {
			return fmt.Errorf("relay: recording imported text: %w", merr)
		}
	}
	return nil
}

// backfillOne imports one text, unless it is already in Intercom.
func (r *Relay) backfillOne(ctx context.Context, key store.ThreadKey, m backfillMessage) error {
	if done, err := r.st.Marked(ctx, string(markBackfilled(m.SID))); err != nil || done {
		return err
	}
	rec, err := r.st.Message(ctx, m.SID)
	switch {
	case err == nil && m.Inbound:
		// On a conversation already: by a live job (nothing to do), or by
		// an earlier attempt of this batch cut off before its bookkeeping.
		return r.backfillBookkeeping(ctx, key, m, delivery{convID: rec.ConversationID, started: rec.Started}, false)
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("relay: reading message record: %w", err)
	}
	customer := m.From
	if !m.Inbound {
		customer = m.To
	}
	contactID, err := r.contactFor(ctx, customer)
	if err != nil {
		return err
	}
	if m.Inbound {
		err = r.backfillInbound(ctx, key, contactID, m)
	} else {
		err = r.backfillOutbound(ctx, key, contactID, m)
	}
	if errors.Is(err, intercom.ErrNotFound) {
		// Intercom no longer has the contact (deleted, or merged into one
		// nothing names) and the relay forgot it: not a refusal of the
		// text, which is tried again with the contact found or made then.
		if _, serr := r.st.Contact(ctx, bareNumber(customer)); errors.Is(serr, store.ErrNotFound) {
			return fmt.Errorf("%w: %w", errContactForgotten, err)
		}
	}
	return err
}

// errContactForgotten is the error of an imported text whose contact
// Intercom no longer has: the relay forgot the contact, and the batch is
// tried again (handleBackfill) rather than the text counted as refused.
var errContactForgotten = errors.New("relay: backfill: the customer's contact is gone and was forgotten; trying again")

// backfillInbound puts a customer's text on their thread's conversation,
// or starts one with it, as a reply from their contact.
func (r *Relay) backfillInbound(ctx context.Context, key store.ThreadKey, contactID string, m backfillMessage) error {
	in := inboundJob{MessageSID: m.SID, From: m.From, To: m.To, Body: backfillText(m), Media: m.Media, ReceivedAt: m.At, MessagingServiceSID: m.Service}
	if err := r.carryOver(ctx, key, in); err != nil {
		return err
	}
	// Before the text's record can exist: a later run tells it from a
	// text the relay carried live.
	if err := r.st.Mark(ctx, string(markBackfillPlacing(m.SID))); err != nil {
		return fmt.Errorf("relay: recording an import: %w", err)
	}
	d, err := r.placeText(ctx, key, contactID, in, r.log.With("message", in.MessageSID, "from", twiliosms.MaskAddress(in.From), "to", in.To, "backfill", true))
	if err != nil {
		return err
	}
	return r.backfillBookkeeping(ctx, key, m, d, true)
}

// backfillBookkeeping points the thread at the conversation a customer's
// imported text is on, as afterDelivery does for a live one (without
// paging or answers to texts sent first: the text is history), and routes
// a conversation it started. A text whose conversation is an older one of
// the thread leaves the thread as it is; fresh says the text was posted
// just now (which re-opens a closed conversation).
func (r *Relay) backfillBookkeeping(ctx context.Context, key store.ThreadKey, m backfillMessage, d delivery, fresh bool) error {
	th, err := r.st.Thread(ctx, key)
	update, stale := true, false
	switch {
	case errors.Is(err, store.ErrNotFound):
		th = store.Thread{Key: key}
	case err != nil:
		return fmt.Errorf("relay: reading thread: %w", err)
	case th.ConversationID == d.convID:
		update = fresh
	default:
		known, kerr := r.st.ThreadByConversation(ctx, d.convID)
		switch {
		case kerr == nil && known == key:
			update, stale = false, true // an older conversation of the thread
		case kerr != nil && !errors.Is(kerr, store.ErrNotFound):
			return fmt.Errorf("relay: reading conversation mapping: %w", kerr)
		}
	}
	if update {
		pointThread(&th, d, m.At)
		if err := r.st.PutThread(ctx, th); err != nil {
			return fmt.Errorf("relay: storing thread: %w", err)
		}
	}
	if d.started && !stale {
		// The thread's conversation; routing is de-duplicated by
		// conversation. An older one was routed in its time.
		return r.enqueueRoute(ctx, d.convID, store.ThreadKey{Customer: key.Customer, Sender: m.To})
	}
	return nil
}

// backfillOutbound notes a text of ours on the thread's conversation, or
// on the contact when the thread has none yet, or only one the relay no
// longer posts to (closed without Reopen: the customer's next text starts
// another). An idle thread keeps it: an agent's reply may come late.
func (r *Relay) backfillOutbound(ctx context.Context, key store.ThreadKey, contactID string, m backfillMessage) error {
	body := noteBackfillSent(m.Body, m.From, m.At, m.Status, m.ErrorCode, m.NumMedia, mediaURLs(m.Media))
	th, err := r.st.Thread(ctx, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("relay: reading thread: %w", err)
	}
	if err == nil && (th.ContactID == "" || th.ContactID == contactID) && (th.State != store.StateClosed || r.cfg.Reopen) {
		_, _, err := once(ctx, r, sideEffect[*intercom.Conversation]{
			what:   "noting an imported text of ours",
			unsure: markUnsureBackfillNote(m.SID),
			look: func(ctx context.Context) (*intercom.Conversation, bool, error) {
				found, err := r.notedBefore(ctx, th.ConversationID, body)
				return nil, found, err
			},
			do: func(ctx context.Context) (*intercom.Conversation, error) {
				return r.ic.AddNote(ctx, th.ConversationID, r.cfg.NoteAuthor, body)
			},
			ambiguous: intercom.IsAmbiguous,
		})
		if err == nil || !errors.Is(err, intercom.ErrNotFound) {
			if err != nil {
				return fmt.Errorf("relay: noting an imported text: %w", err)
			}
			return nil
		}
		// The conversation is gone: the contact keeps the note.
	}
	if r.ic.noter == nil {
		return permanent(errors.New("relay: the Intercom client cannot add notes to contacts; a text of ours before any conversation cannot be imported"))
	}
	phone := bareNumber(key.Customer)
	_, _, err = once(ctx, r, sideEffect[string]{
		what:   "noting an imported text of ours on the contact",
		unsure: markUnsureBackfillNote(m.SID),
		// An earlier attempt may belong to an earlier run's batch: it
		// came after the text was sent, not after this batch was queued.
		look: contactNoteLook[string](r, contactID, body, m.At),
		do: func(ctx context.Context) (string, error) {
			// A contact merged since is followed (merge.go).
			return r.noteContact(ctx, phone, contactID, body)
		},
		ambiguous: intercom.IsAmbiguous,
	})
	if errors.Is(err, intercom.ErrNotFound) {
		// Gone, and nothing names a contact it was merged into: forget it,
		// as a live text does, so that the retry finds or makes another.
		// A 404 about something else (the note's author) is a refusal.
		gone := true
		if r.ic.reader != nil {
			_, cerr := r.ic.Contact(ctx, contactID)
			if cerr != nil && !contactGone(cerr) {
				// Not the 404's refusal: whether the contact is gone is
				// not known yet, so the batch is tried again.
				return fmt.Errorf("relay: noting an imported text on the contact: the contact may be gone (%v), and reading it failed: %w", err, cerr)
			}
			gone = cerr != nil
		}
		if gone {
			if derr := r.st.DeleteContact(ctx, phone); derr != nil {
				return fmt.Errorf("relay: forgetting contact: %w", derr)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("relay: noting an imported text on the contact: %w", err)
	}
	return nil
}

// notedBefore reports whether conversationID holds a note with body's
// text.
func (r *Relay) notedBefore(ctx context.Context, conversationID, body string) (bool, error) {
	conv, err := r.ic.Conversation(ctx, conversationID)
	if err != nil {
		return false, err
	}
	want := SMSText(body)
	for _, p := range conv.Parts {
		if p.PartType == "note" && SMSText(p.Body) == want {
			return true, nil
		}
	}
	return false, nil
}

// backfillText is a customer's imported text as their contact's message
// reads: the original time, then the text.
func backfillText(m backfillMessage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Texted on %s:\n", m.At.UTC().Format("2006-01-02 15:04 MST"))
	if strings.TrimSpace(m.Body) != "" {
		b.WriteString(m.Body)
	}
	switch {
	case m.NumMedia > len(m.Media):
		if strings.TrimSpace(m.Body) != "" {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%d attachment(s) by MMS, not imported: see message %s in Twilio]", m.NumMedia, m.SID)
	case strings.TrimSpace(m.Body) == "" && len(m.Media) > 0:
		fmt.Fprintf(&b, "[%d attachment(s) by MMS]", len(m.Media))
	case strings.TrimSpace(m.Body) == "":
		b.WriteString("[empty message]")
	}
	return b.String()
}
