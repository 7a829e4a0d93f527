@security @real-kafka
Feature: Who may write where
  With SECURITY=sasl_ssl the broker knows every service by name, and lets
  each do its own job and nothing else: nobody but the payment step says an
  order is paid, and nobody outside the kit reads or steers the shop's
  orders. Every refusal shows what Kafka answered, so you can read it.

  Rule: Only clients that prove who they are reach the broker

    Scenario: A client without credentials is refused
      When a client without credentials asks the broker for its topics
      Then the broker closes the connection without answering

    Scenario: A wrong password is refused
      When the order service's account signs in with a wrong password
      Then Kafka answers SASL_AUTHENTICATION_FAILED

    Scenario: A client that does not trust the kit's authority refuses the broker
      When a client that trusts only the usual authorities signs in as the kit
      Then the client refuses the broker's certificate

  Rule: Orders flow as before when every service signs in as itself

    Scenario: A paid order goes all the way
      Given a shopper
      And the shop has 10 "lamp" in stock
      When the shopper orders 1 "lamp" for 49.90 EUR
      Then the order goes through CREATED, PROCESSING and PAID, in that order

    Scenario: A declined payment fails the order
      Given a shopper
      And the shop has 10 "lamp" in stock
      When the shopper orders 1 "lamp" for 1500.00 EUR
      Then the order goes through CREATED, PROCESSING and FAILED, in that order

    Scenario: An order for more than is in stock fails
      Given a shopper
      And the shop has 1 "ink" in stock
      When the shopper orders 2 "ink" for 7.50 EUR
      Then the order goes through CREATED and FAILED, in that order

  Rule: Each service does its own job and no other

    Scenario: The stock service cannot say an order is paid
      When the stock service's account announces that an order is paid
      Then Kafka answers TOPIC_AUTHORIZATION_FAILED

  Rule: An outsider can neither forge, nor steer, nor read

    Scenario: An outsider cannot forge a payment
      Given an outsider with an account of its own
      When the outsider announces that an order is paid
      Then Kafka answers TOPIC_AUTHORIZATION_FAILED

    Scenario: An outsider cannot join the stock service's group
      Given an outsider with an account of its own
      When the outsider joins the stock service's consumer group
      Then Kafka answers GROUP_AUTHORIZATION_FAILED

    Scenario: An outsider cannot read the placed orders
      Given an outsider with an account of its own
      When the outsider reads the placed orders
      Then Kafka answers TOPIC_AUTHORIZATION_FAILED
