"""Hand-made articles and questions whose retrieval results were recorded with the in-memory index of format 8
(tests/store_reference.json); tests/test_store.py checks the on-disk store gives the same. Plain data: the
recording (tests/record_store_reference.py) ran this file with the code of that format."""

from __future__ import annotations

ARTICLES = {
    "rates.txt": "Bank holds rates\n發佈日期: 2024-05-02 09:00\nExample Times\n\n"
    "The central bank kept its main rate at 5.25% on Thursday. Governor Ana Silva said inflation was easing. "
    '"We are not done yet," Silva told reporters in Lisbon. Markets had expected a cut.',
    "football.txt": "Rovers win derby\n發佈日期: 2024-06-01 18:00\nCoast Herald\n\n"
    "Rovers beat United 3-1 on Saturday. Manager Tom Reed said the team showed spirit. "
    '"The lads never gave up," Reed said after the match. United have lost three in a row.',
    "plant.txt": "Factory to close\n發佈日期: 2023-11-20 08:30\nValley Times\n\n"
    "The Norvik fridge plant in Calder will close next year, the company said on Monday. "
    "About 400 workers will lose their jobs. Union leader Mia Lund called the decision a betrayal. "
    '"This town built that company," Lund said. Norvik earned 12 million pounds from fridges in 2004.',
    "energy.txt": "Energy prices climb\n發佈日期: 2024-05-20 07:00\nExample Times\n\n"
    "Gas prices rose 8% in May, the regulator said. Households in Dunmore face higher bills this winter. "
    "Minister Dev Patel promised help for pensioners. The regulator will review the price cap in June.",
    "storm.txt": "Storm hits coast\n\n"
    "A storm flooded the harbour in Glenrock overnight. Fishermen lost boats and nets. "
    '"We have never seen water this high," harbour master Ruth Okafor said. Repairs could take months.',
}

QUESTIONS = [
    "What did Ushakov say about compromise?",
    "What interest rate did the central bank keep?",
    "What did Reed say after the match?",
    "How many workers will lose their jobs at the Norvik plant?",
    "What did Mia Lund say?",
    "How much did gas prices rise in May?",
    "What did Example Times report about energy?",
    "What is the latest on interest rates?",
    "What happened in Glenrock harbour?",
    "Who is the harbour master?",
    "compromise NATO Rutte",
    "pensioners bills winter",
]
K = 5
