Feature: Retrying an order safely
  A shopper whose connection dropped cannot tell whether the order went
  through. So the page sends each order with an idempotency key, and sends it
  again with the same key when in doubt. The shop records the order once,
  however often it is sent.

  Background:
    Given a shopper
    And the shop has 10 "mug" in stock

  Rule: An order sent twice with one idempotency key is one order

    @concept-idempotence
    Scenario: The same order sent twice with one key is recorded, reserved and paid once
      When the shopper orders 1 "mug" for 12.00 EUR with a fresh idempotency key
      And the shopper sends the same order again with the same key
      Then both answers name the same order, the second as a replay
      And the order is recorded once, under its order id, as the order contract describes
      And "mug" is down to 9
      And the order is paid once

  Rule: A key belongs to one order

    @concept-idempotence
    Scenario: Another order with a key already used is refused
      When the shopper orders 1 "mug" for 12.00 EUR with a fresh idempotency key
      And the shopper sends an order for 2 "mug" with the same key
      Then the second order is refused, naming "Idempotency-Key"
      And only the first order is recorded for the shopper
