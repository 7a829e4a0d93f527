Feature: Paying for orders
  The processor takes every order through payment: CREATED, then PROCESSING,
  then PAID or FAILED. Payment is simulated by a fixed rule so the outcome is
  predictable: an order whose total is over 1000 is declined.

  Background:
    Given a shopper
    And the shop has 10 "lamp" in stock

  Rule: An order within the limit is paid

    Scenario: An order of 49.90 is paid
      When the shopper orders 1 "lamp" for 49.90 EUR
      Then the order goes through CREATED, PROCESSING and PAID, in that order
      And every status recorded for the order matches the status contract

  Rule: An order over the limit fails, and says why

    Scenario: An order of 1500.00 fails with a reason
      When the shopper orders 1 "lamp" for 1500.00 EUR
      Then the order goes through CREATED, PROCESSING and FAILED, in that order
      And the failure reason says the total is over the limit
