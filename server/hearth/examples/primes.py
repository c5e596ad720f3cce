"""A small example for trying Hearth: `hearth complete` at the end of the last line."""


def is_prime(n: int) -> bool:
    """Return True if n is a prime number."""
    if n < 2:
        return False
    for d in range(2, int(n**0.5) + 1):
        if n % d == 0:
            return False
    return True


def primes_below(limit: int) -> list[int]:
    """All prime numbers smaller than limit, in increasing order."""
    result = []
    for n in range(2, limit):
