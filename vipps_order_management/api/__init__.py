"""The REST API (Django REST framework): staff manage links and images; customers read theirs."""
