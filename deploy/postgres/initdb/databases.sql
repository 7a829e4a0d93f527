-- One database per service that keeps state in PostgreSQL; each service
-- creates its own tables at start-up.
CREATE DATABASE orders;
CREATE DATABASE stock;
CREATE DATABASE processor;
