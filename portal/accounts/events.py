"""What the accounts app tells others (the audit trail listens), without knowing who listens."""

from django.dispatch import Signal

# A national identifier was bound to an account, or an eID sign-in claimed a row made without one:
# sender=NationalIdentity, identity=<NationalIdentity>.
national_identity_linked = Signal()
# An eID sign-in was refused: sender=None, reason=<short code>, user=<the signed-in User or None>.
eid_sign_in_refused = Signal()
