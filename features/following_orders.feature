Feature: Following an order live
  A browser follows an order as a stream of status events. It sees every
  status of the order once, in order, whenever it connects and however often
  it reconnects.

  Background:
    Given a shopper
    And the shop has 10 "mug" in stock

  Rule: A follower sees the whole story of the order, in order

    @concept-ordering
    Scenario: Someone following from the start sees every transition in order
      When the shopper orders 1 "mug" for 12.00 EUR
      And the shopper follows the order straight away
      Then the shopper sees CREATED, PROCESSING and PAID, in that order

    Scenario: Someone who starts following after payment still sees the whole story
      Given the shopper has an order that has been paid
      When the shopper follows the order
      Then the shopper sees CREATED, PROCESSING and PAID, in that order

  Rule: A follower that reconnects gets exactly what it missed

    Scenario: A follower that lost its connection resumes where it left off
      Given the shopper has an order that has been paid
      And the shopper saw only the first status before losing the connection
      When the shopper reconnects from the last status seen
      Then the shopper sees PROCESSING and PAID, in that order

  Rule: Following needs a real order id

    Scenario Outline: Following <which> is refused
      When someone follows <which>
      Then following is refused with a reason naming "orderId"

      Examples:
        | which                |
        | without an order id  |
        | an order id that is not an id |
