package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkakit/kit/services/events"
)

// The kit's compatibility rule is FULL_TRANSITIVE for strict writers and
// tolerant readers, checked by the registry as two levels (README, "Schema
// registry"):
//
//   - WriterLevel on the subject as written (additionalProperties false):
//     a reader holding the newest version reads every record ever written
//     (replays, a consumer that was down). Producers register here.
//   - ReaderLevel on the subject's tolerant-reader view (the same versions
//     with additionalProperties dropped, as a reader that skips members it
//     does not know sees them): a reader still holding an older version
//     reads records of the newer one (a rolling deploy, the v1 reader of
//     orders.status v2).
//
// Apicurio's FULL_TRANSITIVE on the schemas as written would refuse every
// added optional field (a closed v1 refuses the new member), and on open
// schemas it refuses them too (an open v1 allowed that member any type): no
// JSON Schema could ever grow. The two views check what each side relies on.
const (
	WriterLevel = sr.CompatBackwardTransitive
	ReaderLevel = sr.CompatForwardTransitive
)

// ReaderSubjectSuffix names the scratch subject of a subject's
// tolerant-reader view; Check deletes it when it is done.
const ReaderSubjectSuffix = ".tolerant-reader"

// History is one subject's published versions, oldest first, and the
// current schema when it is not (yet) the newest of them.
type History struct {
	Subject  string
	Versions []events.SchemaVersion
	// Unpublished is the topic's current schema file when it differs from
	// the newest version: Check registers it as the next version and
	// fails, since a change must be published in the history first.
	Unpublished []byte
}

// KitHistories returns every kit topic's history from services/events.
// NewClient is a registry client for the gate and kit schemas. A
// compatibility check on a registry that has just started (Apicurio compiles
// its checker on the first ones) can take seconds on a busy machine: longer
// than sr's default 5 s timeout, so the deadline is a minute.
func NewClient(url string) (*sr.Client, error) {
	return sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Timeout: time.Minute}))
}

func KitHistories() ([]History, error) {
	var out []History
	for _, topic := range events.Topics {
		versions, err := events.SchemaHistory(topic)
		if err != nil {
			return nil, err
		}
		current, err := events.Schemas.ReadFile(events.SchemaFile(topic))
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", topic, err)
		}
		h := History{Subject: events.Subject(topic), Versions: versions}
		if !bytes.Equal(current, versions[len(versions)-1].Schema) {
			h.Unpublished = current
		}
		out = append(out, h)
	}
	return out, nil
}

// Refusal is a version the registry refused: which subject, which
// version, under which rule, the registry's words and what changed.
type Refusal struct {
	Subject string
	Version int
	Level   sr.CompatibilityLevel
	Message string   // the registry's
	Changes []string // Diff from the version before
}

func (r *Refusal) Error() string {
	who := "newer readers of every earlier record"
	if r.Level == ReaderLevel {
		who = "older readers, skipping members they do not know, of its records"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s v%d breaks %s (%s): the registry says %q", r.Subject, r.Version, who, r.Level, r.Message)
	if len(r.Changes) > 0 {
		fmt.Fprintf(&b, "; changed from v%d: %s", r.Version-1, strings.Join(r.Changes, "; "))
	}
	return b.String()
}

// Check registers each history's versions in order, then its unpublished
// current schema, into the registry cl talks to: under the subject with
// WriterLevel, and its tolerant-reader view under a scratch subject with
// ReaderLevel. It first proves that the registry checks compatibility at
// all (franz-go's in-process fake does not), and reports one line per
// subject to out. The error joins a *Refusal per refused version, and says
// so for an unpublished schema.
func Check(ctx context.Context, cl *sr.Client, histories []History, out io.Writer) error {
	if err := probe(ctx, cl); err != nil {
		return err
	}
	var errs []error
	for _, h := range histories {
		versions := h.Versions
		if h.Unpublished != nil {
			versions = append(versions[:len(versions):len(versions)], events.SchemaVersion{Version: len(versions) + 1, Schema: h.Unpublished})
		}
		err := checkSubject(ctx, cl, h.Subject, versions)
		if h.Unpublished != nil {
			err = errors.Join(err, fmt.Errorf("%s: the current schema is not published: copy it into the history as v%d", h.Subject, len(h.Versions)+1))
		}
		if err != nil {
			errs = append(errs, err)
			fmt.Fprintf(out, "FAIL %s\n", h.Subject)
			continue
		}
		fmt.Fprintf(out, "ok   %s v1..v%d: %s as written, %s as tolerant readers read it\n", h.Subject, len(versions), WriterLevel, ReaderLevel)
	}
	return errors.Join(errs...)
}

// checkSubject registers versions under subject and its reader view.
func checkSubject(ctx context.Context, cl *sr.Client, subject string, versions []events.SchemaVersion) error {
	readers := subject + ReaderSubjectSuffix
	// A check cut short may have left the scratch subject behind; its
	// versions would be checked against as if they were published.
	DeleteSubject(ctx, cl, readers)
	defer DeleteSubject(context.WithoutCancel(ctx), cl, readers)
	for _, s := range []struct {
		subject string
		level   sr.CompatibilityLevel
	}{{subject, WriterLevel}, {readers, ReaderLevel}} {
		if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: s.level}, s.subject); res[0].Err != nil {
			return fmt.Errorf("%s: set %s: %w", s.subject, s.level, res[0].Err)
		}
	}
	var errs []error
	for i, v := range versions {
		written, err := events.RegistrySchema(v.Schema)
		if err != nil {
			return fmt.Errorf("%s v%d: %w", subject, v.Version, err)
		}
		read, err := TolerantView(written)
		if err != nil {
			return fmt.Errorf("%s v%d: %w", subject, v.Version, err)
		}
		for _, s := range []struct {
			subject string
			level   sr.CompatibilityLevel
			schema  []byte
		}{{subject, WriterLevel, written}, {readers, ReaderLevel, read}} {
			_, err := cl.CreateSchema(ctx, s.subject, sr.Schema{Schema: string(s.schema), Type: sr.TypeJSON})
			var re *sr.ResponseError
			if errors.As(err, &re) && re.StatusCode == 409 {
				r := &Refusal{Subject: subject, Version: v.Version, Level: s.level, Message: re.Message}
				if i > 0 {
					r.Changes, _ = Diff(versions[i-1].Schema, v.Schema)
				}
				errs = append(errs, r)
				continue
			}
			if err != nil {
				return fmt.Errorf("%s v%d: register: %w", s.subject, v.Version, err)
			}
		}
		if len(errs) > 0 {
			// A refused version is not in the registry; the next would be
			// checked against the wrong predecessors.
			break
		}
	}
	return errors.Join(errs...)
}

// TolerantView is schema as a reader that skips members it does not know
// reads it (every "additionalProperties": false dropped): the view the gate
// checks FORWARD_TRANSITIVE, and what a reader built on an older version
// checks a newer record against.
func TolerantView(schema []byte) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, fmt.Errorf("tolerant view: %w", err)
	}
	var open func(any)
	open = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["additionalProperties"] == false {
				delete(v, "additionalProperties")
			}
			for _, sub := range v {
				open(sub)
			}
		case []any:
			for _, sub := range v {
				open(sub)
			}
		}
	}
	open(doc)
	return json.MarshalIndent(doc, "", "  ")
}

// probe proves that the registry refuses a breaking change (a narrowed
// enum) before its verdicts count: a registry that accepts everything would
// otherwise pass every check.
func probe(ctx context.Context, cl *sr.Client) error {
	var id [6]byte
	_, _ = rand.Read(id[:])
	subject := "kit-schemas-probe-" + hex.EncodeToString(id[:])
	defer DeleteSubject(context.WithoutCancel(ctx), cl, subject)
	if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: WriterLevel}, subject); res[0].Err != nil {
		return fmt.Errorf("schema registry: set %s on a probe subject: %w", WriterLevel, res[0].Err)
	}
	v1 := `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","required":["a"],"additionalProperties":false,"properties":{"a":{"enum":["X","Y"]}}}`
	v2 := strings.Replace(v1, `["X","Y"]`, `["X"]`, 1)
	if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: v1, Type: sr.TypeJSON}); err != nil {
		return fmt.Errorf("schema registry: register a probe schema: %w", err)
	}
	_, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: v2, Type: sr.TypeJSON})
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re) && re.StatusCode == 409:
		return nil
	case err != nil:
		return fmt.Errorf("schema registry: register a probe schema: %w", err)
	default:
		return errors.New("schema registry: it accepted a narrowed enum under " + WriterLevel.String() +
			": it does not check compatibility (franz-go's in-process fake, beside the embedded broker, does not); run the check against Apicurio")
	}
}

// DeleteSubject removes a scratch subject, soft then permanently (the
// Confluent API wants both); a registry that cannot is left as it is.
func DeleteSubject(ctx context.Context, cl *sr.Client, subject string) {
	if _, err := cl.DeleteSubject(ctx, subject, sr.SoftDelete); err == nil {
		_, _ = cl.DeleteSubject(ctx, subject, sr.HardDelete)
	}
}
