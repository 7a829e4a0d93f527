// Package schemaid puts schema ids on the wire: every record the kit
// produces is the Confluent framing — magic byte 0, then the writer's schema
// id as 4 big-endian bytes — followed by its JSON, and every reader resolves
// that id from the schema registry (subject events.Subject(topic)) to learn
// which version of the contract the writer followed.
//
// The framing itself is franz-go's sr.ConfluentHeader; the registry client
// is franz-go's sr.Client. This package adds what the kit needs around them:
// a producer side that registers each topic's current schema once (Framer)
// and a reader side that resolves ids once each, compiling the schema once
// per id (Registry).
package schemaid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkakit/kit/services/events"
)

// HeaderSize is the framing's length: magic byte 0 and a 4-byte schema id.
const HeaderSize = 5

var header sr.ConfluentHeader

// ErrUnframed is Split's error for a value that does not start with the
// framing.
var ErrUnframed = errors.New("record is not framed: want magic byte 0 and a 4-byte schema id before the JSON")

// ErrUnknownID is Resolve's error for an id the registry does not have.
var ErrUnknownID = errors.New("schema id is not in the registry")

// Frame returns value with the framing of schema id in front.
func Frame(id int, value []byte) []byte {
	out := make([]byte, 0, HeaderSize+len(value))
	out, _ = header.AppendEncode(out, id, nil) // never fails
	return append(out, value...)
}

// Split returns the schema id of a framed value and the JSON after it.
func Split(value []byte) (id int, payload []byte, err error) {
	id, payload, err = header.DecodeID(value)
	if err != nil {
		first := "nothing"
		if len(value) > 0 {
			first = fmt.Sprintf("0x%02x", value[0])
		}
		return 0, nil, fmt.Errorf("%w (%d bytes, first %s)", ErrUnframed, len(value), first)
	}
	return id, payload, nil
}

// Framed reports whether value starts like a framed record. JSON never
// starts with byte 0, so a reader can tell framed values from plain JSON.
func Framed(value []byte) bool { return len(value) >= HeaderSize && value[0] == 0 }

// Schema is one registered schema as a reader needs it.
type Schema struct {
	ID int
	// Subject and Version say which version of which contract it is
	// (Version 0: the registry did not say).
	Subject string
	Version int
	// Raw is the schema as the registry returned it.
	Raw []byte
	// Current reports that it is the schema this build writes for Subject
	// (services/events' current schema): a reader holding it can decode
	// strictly; any other version is read tolerantly after this check.
	Current bool
	// Compiled checks a record against this version.
	Compiled *jsonschema.Schema
}

// Validate checks the JSON payload against s.
func (s *Schema) Validate(payload []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return s.Compiled.Validate(v)
}

// Registry resolves schema ids through a Confluent-compatible registry,
// each id once: the answer (and the compiled schema) is kept for the life
// of the process, since a registered id never changes meaning. Safe for
// concurrent use; concurrent first lookups of one id share one request.
type Registry struct {
	url string
	cl  *sr.Client

	mu   sync.Mutex
	byID map[int]*lookup
}

type lookup struct {
	done chan struct{}
	s    *Schema
	err  error
}

// New returns a client of the registry at url (SCHEMA_REGISTRY_URL).
func New(url string) (*Registry, error) {
	if url == "" {
		return nil, errors.New("schema registry: no URL (SCHEMA_REGISTRY_URL)")
	}
	// A first registration on a registry that has just started (Apicurio
	// compiles its checker then) can take seconds on a busy machine.
	cl, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", url, err)
	}
	return &Registry{url: url, cl: cl, byID: map[int]*lookup{}}, nil
}

// URL is the registry's base URL.
func (r *Registry) URL() string { return r.url }

// Resolve returns the schema registered as id. An id the registry does not
// know is ErrUnknownID (permanent); any other error (the registry is down)
// is not remembered, so the next call asks again.
func (r *Registry) Resolve(ctx context.Context, id int) (*Schema, error) {
	r.mu.Lock()
	l, ok := r.byID[id]
	if !ok {
		l = &lookup{done: make(chan struct{})}
		r.byID[id] = l
		r.mu.Unlock()
		l.s, l.err = r.fetch(ctx, id)
		if l.err != nil && !errors.Is(l.err, ErrUnknownID) {
			r.mu.Lock()
			delete(r.byID, id)
			r.mu.Unlock()
		}
		close(l.done)
		return l.s, l.err
	}
	r.mu.Unlock()
	select {
	case <-l.done:
		return l.s, l.err
	case <-ctx.Done():
		return nil, fmt.Errorf("schema id %d: %w", id, ctx.Err())
	}
}

// fetch asks the registry for id's schema and the subject versions it is.
func (r *Registry) fetch(ctx context.Context, id int) (*Schema, error) {
	got, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("schema id %d: %w (registry %s)", id, ErrUnknownID, r.url)
		}
		return nil, fmt.Errorf("schema id %d from registry %s: %w", id, r.url, err)
	}
	s := &Schema{ID: id, Raw: []byte(got.Schema)}
	versions, err := r.cl.SchemaVersionsByID(ctx, id)
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500:
		// A registry that cannot say which subject versions an id is: the
		// record is still checked against the schema itself, read
		// tolerantly, and shown without a version.
		versions = nil
	case err != nil:
		return nil, fmt.Errorf("schema id %d from registry %s: versions: %w", id, r.url, err)
	}
	for _, v := range versions {
		// The compatibility gate's scratch subjects hold the same text;
		// the topic's own subject is the one that names the version.
		if strings.HasSuffix(v.Subject, "-value") && (s.Subject == "" || v.Version > s.Version) {
			s.Subject, s.Version = v.Subject, v.Version
		}
	}
	if s.Compiled, err = compile(fmt.Sprintf("registry:%d", id), s.Raw); err != nil {
		return nil, fmt.Errorf("schema id %d (%s v%d): %w", id, s.Subject, s.Version, err)
	}
	if topic, ok := strings.CutSuffix(s.Subject, "-value"); ok {
		if mine, err := registrySchema(topic); err == nil {
			s.Current = sameJSON(mine, s.Raw)
		}
	}
	return s, nil
}

// Register registers topic's current schema (services/events, in its
// registry form) under its subject and returns it: the registry answers an
// already registered schema with its existing id, so this is also the
// lookup a producer does at every start.
func (r *Registry) Register(ctx context.Context, topic string) (*Schema, error) {
	schema, err := registrySchema(topic)
	if err != nil {
		return nil, err
	}
	subject := events.Subject(topic)
	got, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: string(schema), Type: sr.TypeJSON})
	if err != nil {
		return nil, fmt.Errorf("register %s in schema registry %s: %w", subject, r.url, err)
	}
	compiled, err := compile(subject, schema)
	if err != nil {
		return nil, err
	}
	s := &Schema{ID: got.ID, Subject: subject, Version: got.Version, Raw: schema, Current: true, Compiled: compiled}
	r.mu.Lock()
	if _, ok := r.byID[s.ID]; !ok {
		l := &lookup{done: make(chan struct{}), s: s}
		close(l.done)
		r.byID[s.ID] = l
	}
	r.mu.Unlock()
	return s, nil
}

// registrySchema is topic's current schema as the kit registers it.
func registrySchema(topic string) ([]byte, error) {
	raw, err := events.Schemas.ReadFile(events.SchemaFile(topic))
	if err != nil {
		return nil, fmt.Errorf("schema of %s: %w", topic, err)
	}
	return events.RegistrySchema(raw)
}

func compile(name string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	s, err := c.Compile(name)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return s, nil
}

// sameJSON reports whether a and b are the same JSON document (a registry
// may reformat what it was given).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// RegisterHistory registers every published version of topic's schema
// (events.SchemaHistory), oldest first, so that the registry's version
// numbers are the repository's (v1, v2, …) and records written by older
// builds keep ids that resolve. It returns the newest, the current schema.
// A registry that already holds them answers with their existing ids.
func (r *Registry) RegisterHistory(ctx context.Context, topic string) (*Schema, error) {
	versions, err := events.SchemaHistory(topic)
	if err != nil {
		return nil, err
	}
	subject := events.Subject(topic)
	for _, v := range versions[:len(versions)-1] {
		schema, err := events.RegistrySchema(v.Schema)
		if err != nil {
			return nil, fmt.Errorf("%s v%d: %w", subject, v.Version, err)
		}
		if _, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: string(schema), Type: sr.TypeJSON}); err != nil {
			return nil, fmt.Errorf("register %s v%d in schema registry %s: %w", subject, v.Version, r.url, err)
		}
	}
	return r.Register(ctx, topic)
}
