module github.com/kafkakit/kit/harness

go 1.26
