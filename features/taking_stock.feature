Feature: Taking stock
  Stock is reserved before anybody pays. An order takes every item it asks
  for or none of them, exactly once, and never more than is there. Every
  change is announced per item so other services can follow inventory.

  Background:
    Given a shopper

  Rule: An order takes its items from stock and each change is announced

    @concept-saga
    Scenario: Stock drops by each item's quantity
      Given the shop has 10 "pen" and 5 "ink" in stock
      When the shopper orders 2 "pen" and 1 "ink" for 7.50 EUR
      Then "pen" is down to 8 and "ink" to 4
      And one inventory update is recorded for each of "pen" and "ink", keyed by the SKU

  Rule: Nobody pays for what is not there

    @concept-saga
    Scenario: An order for more than is in stock fails with the reason and takes nothing
      Given the shop has 1 "ink" in stock
      When the shopper orders 2 "ink" for 7.50 EUR
      Then the order goes through CREATED and FAILED, in that order
      And the order failed because "ink" has 1 left and the order asks for 2
      And the shop still has 1 "ink" in stock

    @concept-saga
    Scenario: An order where one of two items is short takes neither
      Given the shop has 10 "pen" and 1 "ink" in stock
      When the shopper orders 2 "pen" and 3 "ink" for 7.50 EUR
      Then the order failed because "ink" has 1 left and the order asks for 3
      And the shop still has 10 "pen" and 1 "ink" in stock
      And no inventory update is recorded for the order

  Rule: An order delivered twice takes stock once

    @concept-idempotence
    Scenario: A redelivered order does not take stock again
      Given the shop has 10 "pen" in stock
      When an order for 2 "pen" is delivered twice
      Then "pen" is down to 8
      And one inventory update is recorded for each of "pen", keyed by the SKU
