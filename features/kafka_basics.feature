Feature: Kafka basics
  What the lessons in docs/learn show, proven on the broker itself. A topic
  is split into partitions; a record's key picks its partition, and a
  partition keeps its records in the order they were written. Consumers that
  share a group id share the partitions, one owner per partition, and a group
  remembers how far it has read by committing offsets. Each scenario has a
  topic and groups of its own.

  Background:
    Given a topic of its own with 3 partitions

  Rule: Records with one key keep their order

    @concept-ordering
    Scenario: Records with one key keep their order
      When 20 records with one key are written, between 20 records with other keys
      Then the records with that key are all in one partition
      And a consumer reads the records with that key in the order they were written

  Rule: A group shares the partitions among its members, one owner per partition

    @concept-consumer-groups
    Scenario: A group shares the partitions among its members
      When 3 consumers join one group on the topic
      Then each partition is owned by exactly one of them, and each of them owns one
      And each record written now is read once, by the owner of its partition

    @concept-consumer-groups
    Scenario: A member more than there are partitions gets no work
      When 4 consumers join one group on the topic
      Then each partition is owned by exactly one of them, and one of them owns none
      And each record written now is read once, by the owner of its partition

    @concept-consumer-groups @concept-failover
    Scenario: A member that leaves hands its partitions to the others
      Given 2 consumers in one group on the topic
      When one of them leaves the group
      Then the one that stays owns all 3 partitions
      And each record written now is read once, by the owner of its partition

  Rule: A group starts where it is told, then goes on from what it committed

    @concept-offsets
    Scenario: A new group can start from the earliest offset and sees everything
      Given 30 records were written to the topic
      When a consumer of a new group starts from the earliest offset
      Then it reads all 30 records, each partition in the order written

    @concept-offsets
    Scenario: A committed offset survives a restart of the consumer
      Given 30 records were written to the topic
      And a consumer of a new group read 10 of them, committed them and stopped
      When a consumer of the same group starts
      Then it reads the other 20 records and none of the first 10 again
