module github.com/kafkakit/kit/services/platform

go 1.26

require (
	github.com/klauspost/compress v1.15.9 // indirect
	github.com/pierrec/lz4/v4 v4.1.15 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	github.com/segmentio/kafka-go v0.4.51 // indirect
	golang.org/x/text v0.23.0 // indirect
)

require github.com/kafkakit/kit/services/events v0.0.0

replace github.com/kafkakit/kit/services/events => ../events
