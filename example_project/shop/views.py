"""The shop's pages: catalogue, cart, checkout (paid with Vipps ePayment), My orders."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from vipps_order_management.exceptions import VippsError

from . import epayment, storefronts
from .cart import Cart
from .forms import CheckoutForm
from .models import Order, OrderItem, Product


def storefront(request: HttpRequest, code: str) -> HttpResponse:
    """``/no/``, ``/dk/``: shop in that country, in its currency (each has its own cart)."""
    if code not in storefronts.all_storefronts():
        raise Http404("No such storefront.")
    request.session[storefronts.SESSION_KEY] = code
    return redirect("shop:products")


def _priced(request: HttpRequest, products) -> list[Product]:
    """The products of the current storefront, each with its price there as ``shop_price``."""
    shop = storefronts.current(request)
    sold = list(shop.sells(products))
    for item in sold:
        item.shop_price = shop.price(item)  # type: ignore[attr-defined] # for the template only
    return sold


def products(request: HttpRequest) -> HttpResponse:
    return render(
        request, "shop/products.html", {"products": _priced(request, Product.objects.all())}
    )


def product(request: HttpRequest, slug: str) -> HttpResponse:
    found = _priced(request, Product.objects.filter(slug=slug))
    if not found:
        raise Http404("No such product in this storefront.")
    return render(request, "shop/product.html", {"product": found[0]})


@require_POST
def cart_add(request: HttpRequest, product_id: int) -> HttpResponse:
    item = get_object_or_404(
        storefronts.current(request).sells(Product.objects.all()), pk=product_id
    )
    Cart(request).add(item, _quantity(request))
    messages.success(request, _("%(product)s is in your cart.") % {"product": item.name})
    return redirect("shop:cart")


@require_POST
def cart_update(request: HttpRequest, product_id: int) -> HttpResponse:
    Cart(request).set(get_object_or_404(Product, pk=product_id), _quantity(request, default=0))
    return redirect("shop:cart")


def cart(request: HttpRequest) -> HttpResponse:
    basket = Cart(request)
    return render(request, "shop/cart.html", {"lines": basket.lines(), "total": basket.total})


def _quantity(request: HttpRequest, default: int = 1) -> int:
    try:
        return max(0, min(99, int(request.POST.get("quantity", default))))
    except ValueError:
        return default


@login_required
def checkout(request: HttpRequest) -> HttpResponse:
    basket = Cart(request)
    lines = basket.lines()
    if not lines:
        return redirect("shop:cart")
    user = request.user
    form = CheckoutForm(
        request.POST or None,
        initial={"name": user.get_full_name() or user.username, "email": user.email},
    )
    if request.method == "POST" and form.is_valid():
        order = _place_order(request, basket, lines, form.cleaned_data)
        return_url = settings.SITE_URL + reverse("shop:payment_return", args=[order.number])
        try:
            # The receipt goes inside the payment; Vipps's page is where the customer pays.
            order.start_payment()
            return redirect(epayment.create_payment(order, return_url))
        except (epayment.PaymentError, VippsError) as error:
            messages.error(
                request, _("Vipps could not start the payment: %(reason)s") % {"reason": error}
            )
            return redirect("shop:cart")
    return render(
        request,
        "shop/checkout.html",
        {
            "form": form,
            "lines": lines,
            "total": basket.total,
            "shipping": basket.storefront.shipping,
        },
    )


def _place_order(request: HttpRequest, basket: Cart, lines: list, data: dict) -> Order:
    for _attempt in range(5):
        try:
            with transaction.atomic():
                last = Order.objects.aggregate(last=Max("id"))["last"] or 0
                order = Order(
                    number=str(1001 + last),
                    user=request.user,
                    storefront=basket.storefront.code,
                    shipping_price=basket.storefront.shipping,
                    **data,
                )
                order.save()
                OrderItem.objects.bulk_create(
                    OrderItem(
                        order=order,
                        product=line.product,
                        name=line.product.name,
                        unit_price=line.unit_price,
                        quantity=line.quantity,
                        vat_rate=line.product.vat_rate,
                    )
                    for line in lines
                )
                return order
        except IntegrityError:  # two checkouts took the same number: try the next
            continue
    raise RuntimeError("could not number the order")


@login_required
def payment_return(request: HttpRequest, number: str) -> HttpResponse:
    """Where Vipps sends the customer back: the payment is read, and captured once approved."""
    order = get_object_or_404(Order, number=number, user=request.user)
    if order.status != Order.Status.NEW:
        return redirect(order)
    try:
        payment = epayment.settle(order)
    except (epayment.PaymentError, VippsError) as error:
        messages.error(
            request, _("Vipps could not confirm the payment: %(reason)s") % {"reason": error}
        )
        return redirect("shop:cart")
    if payment["state"] == "AUTHORIZED":
        Cart(request).clear()
        messages.success(request, _("Payment approved. Thank you for your order!"))
        return redirect(order)
    if payment["state"] == "CREATED":  # back before deciding: the payment is still waiting
        return redirect(payment["redirectUrl"])
    messages.info(request, _("Payment cancelled. Your cart is still here."))
    return redirect("shop:cart")


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    # items__product: the adapter's product images, shown when an order has no image of its own.
    orders = request.user.orders.exclude(status=Order.Status.NEW).prefetch_related("items__product")
    return render(request, "shop/my_orders.html", {"orders": orders})


@login_required
def order(request: HttpRequest, number: str) -> HttpResponse:
    item = get_object_or_404(
        Order.objects.prefetch_related("items__product"), number=number, user=request.user
    )
    return render(request, "shop/order.html", {"order": item})


def track(request: HttpRequest, code: str) -> HttpResponse:
    """The carrier's tracking page (part of the demo, so the DELIVERY link leads somewhere)."""
    parcel = get_object_or_404(Order, tracking_code=code)
    return render(request, "shop/track.html", {"order": parcel})
