Feature: Records that break their contract
  Anything can be written to a Kafka topic. A record that is not what its
  topic's contract says must not stop the records behind it: the consumer
  sets it aside on the topic's dead-letter topic (the topic's name followed
  by .dlq), with the error and where the record came from, and carries on.

  Background:
    Given a shopper
    And the shop has 10 "cup" in stock

  @concept-dead-letters
  Scenario Outline: <what> on <topic> is set aside and the next order still flows
    When <what> arrives on <topic>
    Then it is set aside on <topic>.dlq by <group>, with the error and where it came from
    When the shopper orders 1 "cup" for 8.00 EUR
    Then the order goes through CREATED, PROCESSING and PAID, in that order
    And "cup" is down to 9

    Examples:
      | what                                          | topic              | group               |
      | a record that is not an order                 | orders.created     | stock-service-cg    |
      | an order for more of an item than can exist   | orders.created     | stock-service-cg    |
      | a record that is not a stock answer           | stock.reservations | orders-processor-cg |
      | a record that is not an order status          | orders.status      | stock-service-cg    |
