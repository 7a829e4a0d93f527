// Package docs is the kit's learning path (learn/: eight short lessons on
// Kafka, run against `make up`) and its blog post (blog/), with the tests
// that keep them true: every command of the lessons is run against a stack
// the test starts, every scenario a lesson cites exists and carries the
// lesson's concept tag, and every code excerpt of the post is still in the
// file it comes from.
package docs
