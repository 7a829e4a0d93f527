module github.com/kafkakit/kit/docs

go 1.26.0
