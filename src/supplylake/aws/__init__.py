"""The model-driven rest-json layer: botocore's ``supplychain`` model drives everything here."""
