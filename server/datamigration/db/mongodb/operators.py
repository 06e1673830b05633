"""Every ``$`` key the MongoDB read-only query path lets through: an allow-list, not a deny-list.

A deny-list of the operators that write or run JavaScript misses what it does not name: a
``$where`` carried inside a DBRef-shaped object (``{"$ref": "x", "$id": 1, "$where": "true"}``
decodes to a DBRef whose extra fields reach the server as they are), an operator added by a
later server version, or Extended JSON's ``$code``. So the raw JSON, before any BSON decoding,
is walked and every key that starts with ``$`` must be one of these: query and projection
operators, read-only aggregation stages, expression, accumulator and window operators, and
the Extended JSON type wrappers that stand for plain values.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\S+", text))


QUERY_OPERATORS = _words(
    """
    $eq $ne $gt $gte $lt $lte $in $nin $and $or $nor $not $exists $type $expr $jsonSchema $mod
    $regex $options $text $search $language $caseSensitive $diacriticSensitive $all $elemMatch
    $size $bitsAllClear $bitsAllSet $bitsAnyClear $bitsAnySet $geoIntersects $geoWithin $near
    $nearSphere $geometry $maxDistance $minDistance $box $center $centerSphere $polygon $comment
    $slice $meta $natural
    """
)

#: stages that only read; $out and $merge write, $currentOp / $listSessions / $changeStream
#: and the like look past the collection, so they are not here
STAGES = _words(
    """
    $addFields $bucket $bucketAuto $count $densify $documents $facet $fill $geoNear
    $graphLookup $group $limit $lookup $match $project $redact $replaceRoot $replaceWith $sample
    $set $setWindowFields $skip $sort $sortByCount $unionWith $unset $unwind
    """
)

EXPRESSION_OPERATORS = _words(
    """
    $abs $add $ceil $divide $exp $floor $ln $log $log10 $multiply $pow $round $sqrt $subtract
    $trunc $arrayElemAt $arrayToObject $concatArrays $filter $first $firstN $indexOfArray
    $isArray $last $lastN $map $maxN $minN $objectToArray $range $reduce $reverseArray
    $sortArray $zip $cmp $cond $ifNull $switch $dateAdd $dateDiff $dateFromParts
    $dateFromString $dateSubtract $dateToParts $dateToString $dateTrunc $dayOfMonth $dayOfWeek
    $dayOfYear $hour $isoDayOfWeek $isoWeek $isoWeekYear $millisecond $minute $month $second
    $toDate $week $year $literal $getField $rand $sampleRate $setField $unsetField $let
    $mergeObjects $binarySize $bsonSize $allElementsTrue $anyElementTrue $setDifference
    $setEquals $setIntersection $setIsSubset $setUnion $concat $indexOfBytes $indexOfCP $ltrim
    $regexFind $regexFindAll $regexMatch $replaceOne $replaceAll $rtrim $split $strLenBytes
    $strLenCP $strcasecmp $substr $substrBytes $substrCP $toLower $toString $trim $toUpper
    $sin $cos $tan $asin $acos $atan $atan2 $asinh $acosh $atanh $sinh $cosh $tanh
    $degreesToRadians $radiansToDegrees $convert $isNumber $toBool $toDecimal $toDouble $toInt
    $toLong $toObjectId $toUUID $addToSet $avg $bottom $bottomN $max $min $push $stdDevPop
    $stdDevSamp $sum $top $topN $median $percentile $covariancePop $covarianceSamp $denseRank
    $derivative $documentNumber $expMovingAvg $integral $rank $shift $locf $linearFill
    """
)

#: Extended JSON wrappers for plain values; not $code (JavaScript), $ref/$id/$db (DBRef: its
#: other fields are sent as they are), $dbPointer or $symbol
EXTENDED_JSON = _words(
    """
    $oid $date $numberLong $numberInt $numberDouble $numberDecimal $binary
    $uuid $regularExpression $timestamp $minKey $maxKey $undefined
    """
)

ALLOWED = QUERY_OPERATORS | STAGES | EXPRESSION_OPERATORS | EXTENDED_JSON

#: why the best-known refusals are refused, for a message that says more than "unknown"
WHY = {
    "$out": "writes the pipeline's result into a collection",
    "$merge": "writes the pipeline's result into a collection",
    "$where": "runs server-side JavaScript",
    "$function": "runs server-side JavaScript",
    "$accumulator": "runs server-side JavaScript",
    "$code": "is server-side JavaScript",
    "$ref": "makes a DBRef, whose other fields reach the server unchecked",
    "$id": "makes a DBRef, whose other fields reach the server unchecked",
    "$db": "makes a DBRef, whose other fields reach the server unchecked",
}


def why_refused(key: str) -> str:
    return WHY.get(key, "is not an operator the read-only query path knows")
