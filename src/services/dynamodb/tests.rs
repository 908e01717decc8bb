//! DynamoDB tests.
