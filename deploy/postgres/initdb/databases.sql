-- One database per service that keeps state in PostgreSQL; both services
-- create their own tables at start-up.
CREATE DATABASE orders;
CREATE DATABASE stock;
