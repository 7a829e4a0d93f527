@fault
Feature: Surviving outages
  Services are stopped for deploys, processes crash and the message broker
  goes away. An order the shop accepted is never lost and never taken twice:
  the shop records an order before it says yes, and whatever was down catches
  up once it is back.

  Background:
    Given a shopper
    And the shop has 10 "kettle" in stock

  Rule: An order placed while payment is down is paid once payment is back

    @concept-offsets @concept-failover
    Scenario: An order placed while the processor is down is paid once it is back
      Given the payment service is stopped for a deploy
      When the shopper orders 1 "kettle" for 25.00 EUR
      And the payment service is back
      Then the order goes through CREATED, PROCESSING and PAID, in that order

  Rule: A crash neither loses an order nor takes its stock twice

    @concept-failover @concept-idempotence
    Scenario: Stock is taken exactly once across a crash of the stock service
      Given the stock service has crashed
      When the shopper orders 2 "kettle" for 50.00 EUR
      And the stock service is back
      Then "kettle" is down to 8
      And one inventory update is recorded for each of "kettle", keyed by the SKU

    @concept-outbox
    Scenario: An order accepted just before the order service crashed is still paid
      Given the order service cannot pass orders on to the message broker
      When the shopper orders 1 "kettle" for 25.00 EUR
      And the order service crashes after accepting the order and before passing it on
      And the order service is back, and can pass orders on again
      Then the order is paid once

    @concept-outbox
    Scenario: Stock reserved just before the stock service crashed is announced once it is back
      Given the stock service cannot pass its answers on to the message broker
      When the shopper orders 2 "kettle" for 50.00 EUR
      And the stock service crashes after reserving the stock and before passing the answer on
      And the stock service is back, and can pass its answers on again
      Then the order goes through CREATED, PROCESSING and PAID, in that order
      And "kettle" is down to 8
      And one inventory update is recorded for each of "kettle", keyed by the SKU

  Rule: A service stopped for a deploy first sends everything it committed

    Scenario: Stopping the stock service mid-stream leaves no answer unsent
      Given the shop has 500 "toaster" in stock
      And the shopper keeps ordering "toaster"
      When the stock service is stopped for a deploy
      Then every order the stock service took in has its answer recorded
      When the stock service is back
      Then every order of the stream is paid once

    Scenario: Stopping the order service mid-stream loses no accepted order
      Given the shop has 500 "toaster" in stock
      And the shopper keeps ordering "toaster"
      When the order service is stopped for a deploy
      Then every order the shop accepted is recorded
      When the order service is back
      Then every order of the stream is paid once

  Rule: While the broker is down, orders are still accepted, and paid once it is back

    @real-kafka @broker-outage @concept-outbox @concept-acks
    Scenario: Orders placed while the broker is down are accepted and paid once it is back, none twice
      Given the shopper has an order that was just accepted
      When the message broker goes down
      Then a new order from the shopper is still accepted
      When the message broker is back
      Then both orders are paid, each taking its stock once
