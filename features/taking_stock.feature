Feature: Taking stock
  Stock drops by what each order takes, exactly once per order, and never
  below zero. Every change is announced per SKU so other services can follow
  inventory.

  Background:
    Given a shopper

  Rule: An order takes its items from stock and each change is announced

    Scenario: Stock drops by each item's quantity
      Given the shop has 10 "pen" and 5 "ink" in stock
      When the shopper orders 2 "pen" and 1 "ink" for 7.50 EUR
      Then "pen" is down to 8 and "ink" to 4
      And one inventory update is recorded for each of "pen" and "ink", keyed by the SKU

  Rule: An order that cannot be filled in full changes nothing

    Scenario: An order for more than is in stock leaves stock unchanged
      Given the shop has 10 "pen" and 1 "ink" in stock
      When the shopper orders 2 "pen" and 3 "ink" for 7.50 EUR
      Then the shop reports the order cannot be filled because of "insufficient stock for"
      And the shop still has 10 "pen" and 1 "ink" in stock
      And no inventory update is recorded for the order

  Rule: An order delivered twice takes stock once

    Scenario: A redelivered order does not take stock again
      Given the shop has 10 "pen" in stock
      When an order for 2 "pen" is delivered twice
      Then "pen" is down to 8
      And one inventory update is recorded for each of "pen", keyed by the SKU
