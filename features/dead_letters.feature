Feature: Records that are not orders
  Anything can be written to a Kafka topic. A record on the orders topic that
  is not a valid order must not stop the orders behind it: the consumers set
  it aside on the topic's dead-letter topic, with the error and where the
  record came from, and carry on.

  Background:
    Given a shopper
    And the shop has 10 "cup" in stock

  Scenario: A record that is not an order is set aside and the next order still flows
    When a record that is not an order arrives with the orders
    Then the record is set aside on the dead-letter topic with the error and its origin
    When the shopper orders 1 "cup" for 8.00 EUR
    Then the order goes through CREATED, PROCESSING and PAID, in that order
