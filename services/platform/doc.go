// Package platform is the plumbing the four services share, so each service
// holds only its domain logic: stream (kafka-go producers and a
// consumer that fetches, applies, then commits), tail (a topic read without
// a group, also kit tail's), topics (the kit's one topic
// creator), httpx (JSON encode/decode, errors, CORS, health endpoints) and
// svc (logger and HTTP server lifecycle).
package platform
