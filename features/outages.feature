@fault
Feature: Surviving outages
  Services are stopped for deploys, processes crash and the message broker
  restarts. An order the shop accepted is never lost and never taken twice:
  whatever was down catches up once it is back. While the broker cannot
  record an order, the shopper is told to try again rather than told it was
  accepted.

  Background:
    Given a shopper
    And the shop has 10 "kettle" in stock

  Rule: An order placed while payment is down is paid once payment is back

    Scenario: An order placed while the processor is down is paid once it is back
      Given the payment service is stopped for a deploy
      When the shopper orders 1 "kettle" for 25.00 EUR
      And the payment service is back
      Then the order goes through CREATED, PROCESSING and PAID, in that order

  Rule: A crash of the stock service neither loses an order nor takes its stock twice

    Scenario: Stock is taken exactly once across a crash of the stock service
      Given the stock service has crashed
      When the shopper orders 2 "kettle" for 50.00 EUR
      And the stock service is back
      Then "kettle" is down to 8
      And one inventory update is recorded for each of "kettle", keyed by the SKU

  Rule: While the broker is down, orders are refused with a hint to retry, and nothing accepted is lost

    @real-kafka @broker-outage
    Scenario: Orders are refused while the broker is down and flow again once it is back
      Given the shopper has an order that was just accepted
      When the message broker goes down
      Then a new order from the shopper is refused with a hint to try again later
      When the message broker is back
      Then the accepted order is paid, and so is a new order from the shopper
