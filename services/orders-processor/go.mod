module github.com/kafkakit/kit/services/orders-processor

go 1.26.0

require (
	github.com/go-json-experiment/json v1.27.2 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	golang.org/x/text v0.41.0 // indirect
)

require (
	github.com/kafkakit/kit/services/events v0.0.0
	github.com/kafkakit/kit/services/platform v0.0.0
	github.com/segmentio/kafka-go v0.4.51
	golang.org/x/sync v0.25.0
)

replace (
	github.com/kafkakit/kit/services/events => ../events
	github.com/kafkakit/kit/services/platform => ../platform
)
