"""The customer's segment, from its qualifications: which availabilities it may be sold.

Availabilities come in segments (commercial, education, government, nonprofit); "Create a cart":
"ensure availability of the catalog item is for the correct segment". A customer Microsoft
approved for education, government (GCC) or as a nonprofit is sold that segment's availabilities;
any other customer the commercial ones. A qualification still in review, or denied, counts for
nothing; one that opens no segment (StateOwnedEntity) neither.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.resources.agreements import Qualification

COMMERCIAL = "commercial"
NONPROFIT = "nonprofit"

#: Qualification (as Partner Center names it, lower case) -> the segment it opens.
_SEGMENTS = {"education": "education", "governmentcommunitycloud": "government", "nonprofit": NONPROFIT}


def segment_of(qualifications: Iterable[Qualification]) -> str:
    """The segment of the customer's first approved qualification that opens one; else commercial."""
    for qualification in qualifications:
        segment = _SEGMENTS.get(qualification.qualification.lower())
        if segment and qualification.approved:
            return segment
    return COMMERCIAL


def describe(segment: str) -> str:
    """For the record: what the segment means for what is bought."""
    if segment == COMMERCIAL:
        return "the customer has no approved education, government or nonprofit qualification: commercial"
    return f"the customer is qualified ({segment}): {segment}"
