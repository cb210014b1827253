"""POST /api/recommendations: the home page's carousels."""

from __future__ import annotations

from fastapi import APIRouter

from gateway_service.deps import CurrentUser, ServicesDep, ensure_owner
from gateway_service.recommend import recommendations
from gateway_service.schemas import ErrorBody, RecommendationsRequest, RecommendationsResponse

router = APIRouter(prefix="/api", tags=["recommendations"])


@router.post("/recommendations", response_model=RecommendationsResponse,
             responses={code: {"model": ErrorBody} for code in (400, 401, 403, 404, 422, 503, 504)})
async def recommend(body: RecommendationsRequest, user: CurrentUser,
                    services: ServicesDep) -> RecommendationsResponse:
    """"Top picks for you", "Because you loved X" and "For fans of G", each card with a match score and
    an explanation. Degrades to retrieval order with catalog-grounded reasons when the ranker fails."""
    ensure_owner(user, body.user_id)
    return await recommendations(services, body)
