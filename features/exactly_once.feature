@exactly-once
Feature: Exactly once with Kafka transactions
  What lesson 10 (docs/learn/10-exactly-once.md) shows, proven on the broker
  itself. A producer with a transactional id writes records in a
  transaction, and the broker ends it with a commit or an abort marker. A
  consumer reading read_committed is handed only what committed
  transactions wrote; one reading read_uncommitted, every client's default,
  is handed everything. A producer that starts with a transactional id
  already in use fences the older one, and a processor that commits its
  input offsets in the transaction that writes its output never writes
  that output twice. The kit's services get the same effect another way
  (an outbox and idempotent consumers, lessons 5 and 7): their effects live
  in a database, which Kafka transactions do not cover. Each scenario has
  topics, a group and transactional ids of its own, and prints what the
  broker answered.

  Rule: A read_committed consumer sees only what committed transactions wrote

    @concept-exactly-once
    Scenario: An aborted transaction is invisible to a read_committed consumer
      Given a topic of its own with one partition
      When a producer writes 3 records in one transaction and aborts it
      Then a read_committed consumer is handed none of them

    @concept-exactly-once
    Scenario: An aborted transaction is visible to a read_uncommitted consumer
      Given a topic of its own with one partition
      When a producer writes 3 records in one transaction and aborts it
      Then a read_uncommitted consumer is handed all 3

    @concept-exactly-once
    Scenario: A committed transaction is visible to both kinds of consumer
      Given a topic of its own with one partition
      When a producer writes 3 records in one transaction and commits it
      Then a read_committed consumer is handed all 3
      And a read_uncommitted consumer is handed all 3

  Rule: A producer that starts with a transactional id fences the older one

    @concept-exactly-once
    Scenario: A zombie producer is fenced by its successor
      Given a topic of its own with one partition
      When a producer froze inside a transaction and another with the same transactional id started
      Then the broker refuses the frozen producer once it wakes, as fenced
      And a read_committed consumer is handed only what the new producer wrote

  Rule: Input offsets committed in the transaction move together with its output

    @concept-exactly-once
    Scenario: A crash before the commit reads the input again and never writes the output twice
      Given 3 records on an input topic of its own
      When a processor reads them and writes its results in a transaction, then crashes before committing
      And a processor with the same group and transactional id takes over
      Then the second processor reads the 3 input records again, and its group then has all 3 committed
      And a read_committed consumer of the output is handed each result once
