DROP TABLE customers;
DROP TABLE technicians;
