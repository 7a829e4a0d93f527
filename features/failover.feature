@fault
Feature: Surviving failures in a cluster
  In production Kafka runs as a cluster of brokers, each keeping a copy of
  every partition, and every service runs as several instances. A broker or
  an instance that crashes takes nothing with it: its work moves to the
  others, the shop keeps accepting orders, and no order is lost or applied
  twice.

  Background:
    Given a shopper
    And the shop has 5000 "kettle" in stock

  Rule: Losing the broker that leads new orders neither loses nor repeats an order

    @cluster
    Scenario: The broker leading new orders crashes while orders keep coming
      When the shopper keeps ordering "kettle" while the broker leading the new orders crashes
      Then every order was accepted
      And every order is paid, each order's statuses recorded in order
      And each order took its "kettle" from stock once

  Rule: A crashed instance's orders go to the other instances

    @scaling
    Scenario Outline: A <service> service instance that crashes hands its orders to the others
      Given every <service> service instance has a share of the orders
      When the shopper keeps ordering "kettle" while one <service> service instance crashes
      Then the other <service> service instances took over its partitions
      And every order is paid, each order's statuses recorded in order
      And each order took its "kettle" from stock once

      Examples:
        | service |
        | payment |
        | stock   |
