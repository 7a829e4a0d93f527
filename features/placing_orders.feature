Feature: Placing orders
  A shopper places an order and gets an order id back only once the order is
  safely recorded. Every other service learns about the order from that record.

  Background:
    Given a shopper
    And the shop has 10 "book" in stock

  Rule: A valid order is accepted and recorded exactly as the contract says

    @concept-outbox
    Scenario: A valid order is accepted and recorded under its id
      When the shopper orders 2 "book" for 31.50 EUR
      Then the order is accepted with a new order id
      And the order is recorded once, under its order id, as the order contract describes

  Rule: A bad order is rejected with a clear reason and is never recorded

    Scenario Outline: An order <problem> is rejected
      When the shopper places an order <problem>
      Then the order is rejected as <rejection>, naming "<what>"
      And nothing is recorded for the shopper

      Examples:
        | problem                         | rejection          | what         |
        | without saying who the buyer is | invalid            | userId       |
        | with no items                   | invalid            | items        |
        | with an item that has no SKU    | invalid            | items[0].sku |
        | for zero of an item             | invalid            | items[0].qty |
        | for half of an item             | invalid            | items[0].qty |
        | for more of an item than can exist | invalid         | items[0].qty |
        | with a negative total           | invalid            | total        |
        | in a currency that does not exist | invalid          | currency     |
        | that is not valid JSON          | malformed          | JSON         |
        | larger than one megabyte        | too large          | larger       |
        | sent as plain text              | of the wrong type  | Content-Type |
