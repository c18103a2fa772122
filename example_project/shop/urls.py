from __future__ import annotations

from django.urls import path, re_path

from . import views

app_name = "shop"

urlpatterns = [
    path("", views.products, name="products"),
    path("products/<slug:slug>/", views.product, name="product"),
    path("cart/", views.cart, name="cart"),
    path("cart/add/<int:product_id>/", views.cart_add, name="cart_add"),
    path("cart/update/<int:product_id>/", views.cart_update, name="cart_update"),
    path("checkout/", views.checkout, name="checkout"),
    path("pay/<str:number>/return/", views.payment_return, name="payment_return"),
    path("my-orders/", views.my_orders, name="my_orders"),
    path("my-orders/<str:number>/", views.order, name="order"),
    path("track/<str:code>/", views.track, name="track"),
    re_path(r"^(?P<code>[a-z]{2})/$", views.storefront, name="storefront"),  # /no/, /dk/
]
