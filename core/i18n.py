"""Words the core writes are English msgids; the web layer translates them where it shows them."""


def gettext_noop(message: str) -> str:
    """Mark a message for translation without translating it here.

    Django's ``makemessages`` collects the strings passed to a function of this name, wherever it is
    imported from; the pages translate them at render time, so the core stays free of Django.
    """
    return message
