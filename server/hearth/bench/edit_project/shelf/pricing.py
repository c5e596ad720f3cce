TAX_RATE = 0.2


def apply_discount(price, percent):
    return price + price * percent / 100


def tax(price):
    return price * TAX_RATE


def format_price(amount):
    return f"{amount:.2f}"
