package testcontainers

// The images docker-compose.yml pins too (harness/deploy checks that they
// agree): Confluent Platform 7.9 is Apache Kafka 3.9, the last line that
// runs with ZooKeeper.
const (
	DefaultZooKeeperImage = "confluentinc/cp-zookeeper:7.9.2"
	DefaultKafkaImage     = "confluentinc/cp-kafka:7.9.2"
)
