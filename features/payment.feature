Feature: Paying for orders
  Once its stock is reserved, the processor takes an order through payment:
  CREATED, then PROCESSING, then PAID or FAILED. Payment is simulated by a
  fixed rule so the outcome is predictable: an order whose total is over 1000
  is declined, and a declined order's stock goes back on the shelf.

  Background:
    Given a shopper
    And the shop has 10 "lamp" in stock

  Rule: An order within the limit is paid

    @concept-ordering
    Scenario: An order of 49.90 is paid
      When the shopper orders 1 "lamp" for 49.90 EUR
      Then the order goes through CREATED, PROCESSING and PAID, in that order
      And every status recorded for the order matches the status contract

  Rule: An order over the limit fails, says why and gives its stock back

    @concept-saga
    Scenario: An order of 1500.00 fails with a reason
      When the shopper orders 1 "lamp" for 1500.00 EUR
      Then the order goes through CREATED, PROCESSING and FAILED, in that order
      And the failure reason says the total is over the limit

    @concept-saga
    Scenario: A declined payment puts the stock back and announces it
      When the shopper orders 2 "lamp" for 1500.00 EUR
      Then the order goes through CREATED, PROCESSING and FAILED, in that order
      And "lamp" is back to 10
      And the inventory updates for the order take 2 "lamp" and give 2 back

    @concept-idempotence
    Scenario: A failure delivered twice gives the stock back once
      Given the shopper has an order for 2 "lamp" whose payment was declined
      When the failure is delivered again
      Then "lamp" is still at 10
      And the stock of the order was given back once

  Rule: A paid order stays paid, whatever is delivered again

    @redelivered-reservation
    Scenario: A reservation delivered again changes nothing for a paid order
      When the shopper orders 1 "lamp" for 49.90 EUR
      And once it is paid, its stock reservation reaches payment again
      Then no new status is recorded for the order
      And someone following the order now sees it end PAID
