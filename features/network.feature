@network @real-kafka @fault
Feature: Surviving a bad network
  A network is more often slow, flaky or cut than gone. A service that can
  reach its database but not the broker keeps what it committed and sends
  it once the link is back; a slow link delays orders but repeats none; a
  link that keeps resetting loses nothing; a broker the others cannot
  reach takes no write it could lose. The shopper orders as a careful
  client does: each order with a key of its own, sent again with that key
  when it got no answer or was refused for now.

  Background:
    Given a shopper
    And the shop has 2000 "toaster" in stock

  Rule: A service cut off from the broker keeps what it committed and sends it once the link heals

    Scenario: The stock service is cut off from the broker while its database works
      When the shopper keeps ordering "toaster" while stock-service's link to the broker is cut for 10 seconds while it keeps running
      Then stock-service held back its work while cut off, and kept running
      And every order is paid, each order's statuses recorded in order
      And the shopper saw each order go through CREATED, PROCESSING and PAID once
      And each order took its "toaster" from stock once

  Rule: A slow link delays orders but repeats none

    Scenario: The payment service's link to the broker is slow
      When the shopper keeps ordering "toaster" while orders-processor's link to the broker adds 2000 ms
      Then orders-processor fell behind while its link was slow
      When orders-processor's link to the broker heals
      Then every order is paid, each order's statuses recorded in order
      And the shopper saw each order go through CREATED, PROCESSING and PAID once
      And each order took its "toaster" from stock once

  Rule: Connections that keep resetting lose nothing

    Scenario: The broker's link to the payment service resets its connections during a burst
      When the shopper keeps ordering "toaster" while the broker's link to orders-processor resets connections every 3 seconds
      Then orders-processor fell behind while its link kept resetting
      When the broker's link to orders-processor heals
      Then every order is paid, each order's statuses recorded in order
      And the shopper saw each order go through CREATED, PROCESSING and PAID once
      And each order took its "toaster" from stock once

  Rule: A broker cut off from the other brokers holds or refuses writes, and loses none

    # Cut inbound: the other brokers cannot reach it (their followers
    # cannot fetch from it, the controller cannot reach it); it still
    # reaches them, and every client still reaches it (README, "Network
    # faults"). With every write needing two replicas in sync, its
    # partitions take no write until the others catch up.
    @cluster
    Scenario: One broker is cut off from the other brokers while the services still reach it
      When the shopper keeps ordering "toaster" while a broker leading new orders is cut from the other brokers for 30 seconds while clients still reach it
      Then that broker's partitions had too few replicas in sync to take a write while it was cut off, their writes held or refused, until the other brokers caught up
      And every order was accepted
      And every order is paid, each order's statuses recorded in order
      And the shopper saw each order go through CREATED, PROCESSING and PAID once
      And each order took its "toaster" from stock once

  Rule: The order service refuses what it cannot record, and says when to try again

    @postgres
    Scenario: The order service's database refuses its connections
      Given orders-api's link to its database drops every connection for 60 seconds
      Then a new order is refused for now, with a time to retry
      When orders-api's link to its database heals
      Then that order, sent again with its key, is taken as a new one
      When the shopper keeps ordering "toaster" while orders-api's link to its database drops every connection for 5 seconds
      Then every order is paid, each order's statuses recorded in order
      And each order took its "toaster" from stock once

    # A link that swallows bytes: the order service answers once its
    # database transaction's deadline has passed (README, "The features").
    @postgres
    Scenario: The order service is cut off from its database
      Given orders-api's link to its database is cut
      Then a new order is refused for now, with a time to retry
      When orders-api's link to its database heals
      Then that order, sent again with its key, is taken as a new one
      When the shopper keeps ordering "toaster" while orders-api's link to its database drops every connection for 5 seconds
      Then every order is paid, each order's statuses recorded in order
      And each order took its "toaster" from stock once
