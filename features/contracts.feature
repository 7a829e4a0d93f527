Feature: Contracts that change safely
  Every record the shop writes starts with five bytes before its JSON: a
  zero and the number under which the schema registry keeps the version of
  the contract its writer followed. A reader looks that version up, checks
  the record against it, and reads what it knows — so a contract can gain
  an optional field while older readers keep working, and the registry
  refuses a change that would break a reader.

  Background:
    Given a shopper
    And the shop has 10 "cup" in stock

  Rule: a record must say which version of its contract it follows

    @contracts
    Scenario: an order status without its schema id is set aside
      When someone writes an order status without its schema id to orders.status
      Then it is set aside on orders.status.dlq by stock-service-cg, saying it carries no schema id

    @contracts
    Scenario: an order status naming a schema nobody registered is set aside
      When someone writes an order status naming a schema the registry never issued to orders.status
      Then it is set aside on orders.status.dlq by stock-service-cg, saying its schema is unknown

  Rule: a reader built on an older version still reads today's records

    @contracts @concept-contracts
    Scenario: a first-version reader follows an order paid today
      When the shopper orders 1 "cup" for 8.00 EUR
      Then the order goes through CREATED, PROCESSING and PAID, in that order
      And a reader built on the first version of order statuses reads each of the order's statuses

  Rule: the registry refuses a change that would break a reader, and accepts one that would not

    @contracts @real-kafka @concept-contracts
    Scenario: dropping a required field is refused
      When a team proposes order statuses without their update time
      Then the schema registry refuses the change, naming updatedAt

    @contracts @real-kafka @concept-contracts
    Scenario: narrowing the statuses is refused
      When a team proposes order statuses without the status PAID
      Then the schema registry refuses the change, naming status

    @contracts @real-kafka @concept-contracts
    Scenario: adding an optional field is accepted
      When a team proposes order statuses with an optional note
      Then the schema registry accepts the change
