"""The HTTP layer under :mod:`vipps_order_management.client`, in the pieces a reader looks for.

``credentials`` (secrets that print as ``***``, what a header can carry), ``access_tokens``
(the token, where it is kept, when it is refreshed), ``answers`` (what Vipps answered, as a
body or a typed exception) and ``session`` (the pooled connection and the API root). Like the
client, nothing here knows Django's ORM or settings.
"""
