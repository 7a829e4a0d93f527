@scaling
Feature: Running several instances of each service
  Every service can run as several instances. The payment services split the
  orders between them and hand them over as instances come and go; the stock
  services share one database and never sell an item twice; a shopper may
  follow an order on any notification service. None of it changes what the
  shopper sees: every order once, in order, paid.

  Background:
    Given a shopper

  Rule: Payment services share the orders and hand them over as they come and go

    @fault
    Scenario: Orders keep being paid while two of three payment services are redeployed
      Given the shop has 5000 "mug" in stock
      And every payment service instance has a share of the orders
      When the shopper keeps ordering "mug" while two payment service instances are stopped for a deploy and started again
      Then every order is paid, each order's statuses recorded in order
      And the shopper saw each order go through CREATED, PROCESSING and PAID once

  Rule: A shopper can follow an order on any notification service

    @fault
    Scenario: A follower whose notification service goes away resumes on another, missing nothing and seeing nothing twice
      Given the shop has 10 "mug" in stock
      And the shopper is following a new order on one notification service and has seen its first status
      When that notification service is stopped for a deploy
      And the shopper reconnects to another notification service from the last status seen
      Then the shopper sees PROCESSING and PAID, in that order

  Rule: Stock services sharing one database take stock exactly

    Scenario: Orders for the last lamps, arriving together on every partition, take exactly what is there
      Given the shop has 12 "lamp" in stock
      And every stock service instance has a share of the orders
      When 30 orders for 1 "lamp" each arrive at once, spread over every partition
      Then 12 of them get a "lamp" and 18 are refused as out of stock
      And "lamp" is down to 0 on every stock service, each taken by one order

    Scenario: Stock seeded through either stock service is seen by both
      When 10 "pen" are stocked through one stock service and 5 "ink" through another
      Then every stock service shows 10 "pen" and 5 "ink"
